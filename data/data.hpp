#pragma once
/// \file
/// tapegrad::data: datasets and the DataLoader (with samplers and background workers), the
/// dataset readers and the byte-level BPE tokenizer, as torch.utils.data plus a tokenizer.
#include "bpe_tokenizer.hpp"
#include "dataloader.hpp"
#include "dataset.hpp"
#include "readers.hpp"
#include "sampler.hpp"
