#pragma once
/// \file
/// Every failure tapegrad reports is one of these. Messages start with the op or function
/// name and show the shapes, dtypes or values involved.
#include <stdexcept>
#include <string>

namespace tg {

/// The base of every exception tapegrad throws (a std::runtime_error: what() is the message).
/// Catch it to handle any of them; the classes below say what went wrong.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Shapes that do not fit the op (mismatched dims, bad rank, non-broadcastable).
class ShapeError : public Error {
public:
    using Error::Error;
};

/// A dtype the op does not support, or two inputs whose dtypes differ.
class DtypeError : public Error {
public:
    using Error::Error;
};

/// A bad value: an out-of-range index or dim, a negative probability, a misuse of autograd.
class ValueError : public Error {
public:
    using Error::Error;
};

/// A NaN or Inf found by anomaly detection (set_detect_anomaly / AnomalyGuard): names the op,
/// its input shapes and where on the tape it was recorded.
class AnomalyError : public Error {
public:
    using Error::Error;
};

/// Reading or writing files.
class IOError : public Error {
public:
    using Error::Error;
};

}  // namespace tg
