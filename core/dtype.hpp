#pragma once
/// \file
/// Element types: the Dtype enum, its sizes and names, and the bfloat16 value type.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace tg {

/// The element type of a Tensor. f32 is the default everywhere, as in PyTorch.
///
/// bf16 is a storage dtype: tensors hold it, convert it (to()), print, save and load it, and no
/// op computes in it (each one throws DtypeError and says to convert to f32 first).
/// b8 holds truth values (C++ bool, one byte; PyTorch's torch.bool): comparisons return it,
/// where, masked_fill and the attention masks take it, logical ops and any/all compute in it,
/// and sum counts its true elements; arithmetic refuses it (convert with .to()).
/// A Dtype prints as its name ("f32") with fmt::format and fmt::print (core/format.hpp).
enum class Dtype : uint8_t {
    f32,   ///< float (IEEE single precision)
    f64,   ///< double
    i64,   ///< int64_t: indices, labels, counts
    bf16,  ///< bfloat16, for storage only
    b8     ///< bool, one byte
};

/// Bytes per element: 4 for f32, 8 for f64 and i64, 2 for bf16, 1 for b8.
constexpr std::size_t dtype_size(Dtype d) {
    switch (d) {
        case Dtype::f32: return 4;
        case Dtype::bf16: return 2;
        case Dtype::b8: return 1;
        case Dtype::f64:
        case Dtype::i64: return 8;
    }
    return 8;
}

/// True for the dtypes ops compute in and gradients flow through: f32 and f64. bf16 is a
/// floating format too, but a storage one, so it answers false: every check written as "needs
/// a floating dtype" (requires_grad, parameters, ops) refuses bf16 without knowing of it.
constexpr bool is_floating(Dtype d) { return d == Dtype::f32 || d == Dtype::f64; }

/// The dtype's name as this library writes it: "f32", "f64", "i64", "bf16" or "b8".
constexpr std::string_view dtype_name(Dtype d) {
    switch (d) {
        case Dtype::f32: return "f32";
        case Dtype::f64: return "f64";
        case Dtype::i64: return "i64";
        case Dtype::bf16: return "bf16";
        case Dtype::b8: return "b8";
    }
    return "?";
}

/// bfloat16: the upper half of an IEEE float (sign, 8 exponent bits, 7 mantissa bits), so
/// float's range with about 3 significant digits. Widening to float is exact and implicit;
/// narrowing rounds to nearest, ties to even, and must be asked for (explicit). NaN stays NaN
/// (made quiet), infinities and signed zeros are kept, values past the largest bf16 round to inf.
/// Prints as its float value with fmt::format and fmt::print (core/format.hpp).
class bfloat16 {
public:
    /// Positive zero.
    constexpr bfloat16() = default;
    /// f rounded to the nearest bf16 (ties to even).
    constexpr explicit bfloat16(float f) : bits_(round_bits(f)) {}
    /// One rounding straight from double (not double -> float -> bf16, which can round twice).
    constexpr explicit bfloat16(double d) : bits_(round_bits(to_odd_float(d))) {}

    /// The exact float value (implicit widening).
    constexpr operator float() const { return to_float(); }
    /// The exact float value.
    constexpr float to_float() const { return std::bit_cast<float>(static_cast<uint32_t>(bits_) << 16); }

    /// The bf16 whose bit pattern is `bits` (no rounding).
    static constexpr bfloat16 from_bits(uint16_t bits) {
        bfloat16 b;
        b.bits_ = bits;
        return b;
    }
    /// The 16-bit pattern: the upper half of the equivalent float's bits.
    constexpr uint16_t bits() const { return bits_; }

    /// The bf16 bits nearest to f (ties to even); a NaN keeps its sign and gets the quiet bit.
    static constexpr uint16_t round_bits(float f) {
        const uint32_t u = std::bit_cast<uint32_t>(f);
        if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
        // Adding 0x7fff rounds the dropped half up when above half; the kept bit's value makes a
        // tie go to the even neighbour. A carry runs into the exponent (up to inf) correctly.
        return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }

    /// d rounded to float "to odd": exact when d is a float, otherwise whichever of the two
    /// neighbouring floats has an odd last bit. Float keeps 16 more bits than bf16 at every
    /// magnitude, so rounding this to nearest bf16 equals rounding d itself.
    static constexpr float to_odd_float(double d) {
        const float f = static_cast<float>(d);
        if (static_cast<double>(f) == d || d != d) return f;
        uint32_t u = std::bit_cast<uint32_t>(f);
        if ((u & 1u) == 0) {
            const double mag_f = f < 0 ? -static_cast<double>(f) : static_cast<double>(f);
            const double mag_d = d < 0 ? -d : d;
            u = mag_f > mag_d ? u - 1 : u + 1;  // the other neighbour, one step nearer to d
        }
        return std::bit_cast<float>(u);
    }

private:
    uint16_t bits_ = 0;
};

static_assert(sizeof(bfloat16) == 2 && std::is_trivially_copyable_v<bfloat16> &&
              std::is_standard_layout_v<bfloat16>);

static_assert(sizeof(bool) == 1, "b8 stores C++ bool in one byte");

/// The dtype that stores C++ type T: float -> f32, double -> f64, int64_t -> i64, bfloat16 ->
/// bf16, bool -> b8.
template <class T>
constexpr Dtype dtype_of() {
    if constexpr (std::is_same_v<T, float>) return Dtype::f32;
    else if constexpr (std::is_same_v<T, double>) return Dtype::f64;
    else if constexpr (std::is_same_v<T, bfloat16>) return Dtype::bf16;
    else if constexpr (std::is_same_v<T, bool>) return Dtype::b8;
    else {
        static_assert(std::is_same_v<T, int64_t>, "tapegrad stores float, double, int64_t, bfloat16 or bool");
        return Dtype::i64;
    }
}

}  // namespace tg
