#pragma once
/// \file
/// safetensors files: an 8-byte little-endian header length N, N bytes of JSON describing each
/// tensor (dtype, shape, [begin, end) offsets into the data), then the raw little-endian data.
/// The format Hugging Face and PyTorch tools use; tapegrad reads and writes F32, F64, I64, BOOL
/// (b8) and BF16 (2 bytes per value, the upper half of the float; many published checkpoints
/// are bf16).
#include <map>
#include <string>

#include "module.hpp"

namespace tg::nn {

/// What load_safetensors and parse_safetensors read from a file.
struct SafetensorsFile {
    NamedTensors tensors;                         ///< in the order of their data in the file
    std::map<std::string, std::string> metadata;  ///< the optional "__metadata__" entry
};

/// Writes the tensors (contiguous data, in the given order) to path through a temporary file
/// in the same directory that is flushed, fsynced and renamed over path, so path always holds
/// either the old file or the complete new one. Names must be unique and non-empty.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// Writes bytes to path the same crash-safe way: temporary file in the same directory, fsync,
/// rename. Throws IOError naming the file.
void write_file_atomically(const std::string& path, const std::string& bytes);

/// Reads and validates a whole file: header length, JSON, every entry's dtype, shape and byte
/// range (inside the data, no overlaps, no holes). Throws IOError naming the file and the
/// problem; returns nothing partial.
SafetensorsFile load_safetensors(const std::string& path);

/// The same checks on bytes already in memory (what load_safetensors runs on the file's bytes);
/// source names them in messages.
SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& source);

}  // namespace tg::nn
