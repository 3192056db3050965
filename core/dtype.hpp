#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace tg {

enum class Dtype : uint8_t { f32, f64, i64 };

constexpr std::size_t dtype_size(Dtype d) { return d == Dtype::f32 ? 4 : 8; }
constexpr bool is_floating(Dtype d) { return d != Dtype::i64; }

constexpr std::string_view dtype_name(Dtype d) {
    switch (d) {
        case Dtype::f32: return "f32";
        case Dtype::f64: return "f64";
        case Dtype::i64: return "i64";
    }
    return "?";
}

/// The dtype that stores C++ type T: float -> f32, double -> f64, int64_t -> i64.
template <class T>
constexpr Dtype dtype_of() {
    if constexpr (std::is_same_v<T, float>) return Dtype::f32;
    else if constexpr (std::is_same_v<T, double>) return Dtype::f64;
    else {
        static_assert(std::is_same_v<T, int64_t>, "tapegrad stores float, double or int64_t");
        return Dtype::i64;
    }
}

}  // namespace tg
