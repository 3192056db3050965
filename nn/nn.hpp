#pragma once
// Everything in tg::nn.
#include "nn/diagnostics.hpp"
#include "nn/gpt.hpp"
#include "nn/init.hpp"
#include "nn/layers.hpp"
#include "nn/module.hpp"
#include "nn/residual.hpp"
#include "nn/safetensors.hpp"
#include "nn/transformer.hpp"
