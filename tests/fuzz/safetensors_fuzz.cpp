// Fuzz target for the safetensors reader: any bytes must give either a tg::Error or a load that
// agrees, tensor by tensor, with an independent reading of the header done here. Any other
// exception, a crash, a hang or an out-of-bounds read (under ASan) is a finding.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <tapegrad.hpp>

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    tg::nn::SafetensorsFile file;
    try {
        file = tg::nn::parse_safetensors(bytes, "fuzz input");
    } catch (const tg::Error&) {
        return 0;  // a clear error is a correct answer to bad bytes
    }
    // Loaded: the bytes must be a well-formed file, and every tensor must be what it says.
    FUZZ_CHECK(size >= 8);
    uint64_t n = 0;
    std::memcpy(&n, data, 8);
    FUZZ_CHECK(n <= size - 8);
    const auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
    FUZZ_CHECK(header.is_object());
    std::size_t described = 0;
    for (const auto& [name, v] : header.items())
        if (name != "__metadata__") ++described;
    FUZZ_CHECK(file.tensors.size() == described);
    const uint64_t data_size = size - 8 - n;
    uint64_t total = 0;
    for (const auto& [name, t] : file.tensors) {
        FUZZ_CHECK(header.contains(name));
        const auto& e = header[name];
        const std::string dt = e["dtype"].get<std::string>();
        FUZZ_CHECK((dt == "F32" && t.dtype() == tg::Dtype::f32) || (dt == "F64" && t.dtype() == tg::Dtype::f64) ||
                   (dt == "I64" && t.dtype() == tg::Dtype::i64) || (dt == "BF16" && t.dtype() == tg::Dtype::bf16) || (dt == "BOOL" && t.dtype() == tg::Dtype::b8));
        const auto& shape = e["shape"];
        FUZZ_CHECK(shape.size() == t.shape().size());
        for (std::size_t i = 0; i < shape.size(); ++i)
            FUZZ_CHECK(shape[i].get<uint64_t>() == static_cast<uint64_t>(t.shape()[i]));
        const uint64_t begin = e["data_offsets"][0].get<uint64_t>(), end = e["data_offsets"][1].get<uint64_t>();
        FUZZ_CHECK(begin <= end && end <= data_size);
        FUZZ_CHECK(static_cast<uint64_t>(t.nbytes()) == end - begin);
        if (t.nbytes()) FUZZ_CHECK(std::memcmp(t.raw_data(), data + 8 + n + begin, end - begin) == 0);
        if (t.dtype() == tg::Dtype::b8)  // a bool is 0 or 1; any other byte is rejected
            for (uint64_t i = begin; i < end; ++i) FUZZ_CHECK(data[8 + n + i] <= 1);
        total += end - begin;
    }
    FUZZ_CHECK(total == data_size);  // no holes, no overlaps, nothing undescribed
    if (header.contains("__metadata__"))
        for (const auto& [k, v] : header["__metadata__"].items()) FUZZ_CHECK(file.metadata.at(k) == v.get<std::string>());
    return 0;
}
