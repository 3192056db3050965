#pragma once
// Adds context to the exception in flight and throws it again as the same kind of tg error, so
// that a worker's failure reaches the caller as, say, an IOError naming the dataset and index.
// Not installed.
#include <string>

namespace tg::data::detail {

/// Call inside a catch block: throws the current exception's kind (ShapeError, DtypeError,
/// ValueError, IOError, AnomalyError, else tg::Error) with `context` before its message.
[[noreturn]] void rethrow_with_context(const std::string& context);

}  // namespace tg::data::detail
