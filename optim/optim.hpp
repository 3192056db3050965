#pragma once
/// \file
/// Everything in tg::optim: the optimizers, gradient clipping, learning-rate schedules and
/// the sharpness diagnostics (the tapegrad::optim library).
#include "adam.hpp"
#include "clip.hpp"
#include "optimizer.hpp"
#include "schedule.hpp"
#include "sgd.hpp"
#include "sharpness.hpp"
