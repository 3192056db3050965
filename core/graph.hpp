#pragma once
/// \file
/// The tape drawn as a graph, as torchviz's make_dot draws PyTorch's.
#include <string>
#include <utility>
#include <vector>

#include "tensor.hpp"

namespace tg {

/// Writes the graph backward() would walk from root as Graphviz DOT: one box per recorded op
/// with its output shape and dtype and the bytes the tape keeps because of it (its saved
/// buffers and the inputs it holds), one per leaf that requires grad (named where `names` knows
/// it, e.g. model.named_parameters(), as make_dot's params), an edge from each input to the op
/// that used it, and root highlighted. Inputs that need no gradient (the data) are left out, as
/// backward skips them.
/// path ending in ".dot" or ".gv" gets the DOT text; ".svg" an SVG drawn by Graphviz's `dot`
/// (Debian's graphviz) when it is installed, else the DOT text beside it (path with ".dot" in
/// place of ".svg"), and a line on stderr that says so. Crash-safe (temporary file + rename).
/// Errors: root undefined or needing no grad, a graph freed by backward(), another extension.
void write_graph(const Tensor& root, const std::string& path);
/// \overload
/// With `names` for the leaves (name, tensor), e.g. model.named_parameters().
void write_graph(const Tensor& root, const std::string& path,
                 const std::vector<std::pair<std::string, Tensor>>& names);

/// The DOT text write_graph writes.
std::string graph_dot(const Tensor& root, const std::vector<std::pair<std::string, Tensor>>& names = {});

}  // namespace tg
