#pragma once
// Everything in tg::optim.
#include "adam.hpp"
#include "clip.hpp"
#include "optimizer.hpp"
#include "schedule.hpp"
#include "sgd.hpp"
#include "sharpness.hpp"
