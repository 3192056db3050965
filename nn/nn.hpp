#pragma once
// Everything in tg::nn.
#include "attention.hpp"
#include "conv.hpp"
#include "diagnostics.hpp"
#include "gpt.hpp"
#include "init.hpp"
#include "layers.hpp"
#include "module.hpp"
#include "normalization.hpp"
#include "residual.hpp"
#include "rnn.hpp"
#include "safetensors.hpp"
#include "transformer.hpp"
