#include "nn/safetensors.hpp"

#include "core/atomic_file.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string_view>

namespace tg::nn {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; tapegrad writes it from memory as is");

namespace {

constexpr uint64_t kMaxHeader = 100'000'000;  // the limit the format's reference reader uses

const char* dtype_tag(Dtype d) {
    switch (d) {
        case Dtype::f32: return "F32";
        case Dtype::f64: return "F64";
        case Dtype::i64: return "I64";
        case Dtype::bf16: return "BF16";
        case Dtype::b8: return "BOOL";
    }
    return "?";
}

[[noreturn]] void fail(const std::string& source, const std::string& what) {
    throw IOError(fmt::format("safetensors: {}: {}", source, what));
}

std::string errno_text() { return std::strerror(errno); }

// What a file that is not safetensors seems to be, from its first bytes ("" when unsure): what
// users pass by mistake is usually a text file, a PyTorch .pt/.pth (a zip archive) or a pickle.
std::string looks_like(const std::string& bytes) {
    auto starts = [&](std::string_view magic) { return bytes.compare(0, magic.size(), magic) == 0; };
    if (starts("PK\x03\x04")) return "a zip archive, as torch.save writes .pt/.pth files; save it as safetensors instead";
    if (starts("\x80") && bytes.size() > 1 && bytes[1] >= 2 && bytes[1] <= 5) return "a Python pickle";
    if (starts("\x1f\x8b")) return "a gzip file";
    if (starts("\x89PNG")) return "a PNG image";
    if (starts("%PDF")) return "a PDF document";
    if (starts("\x7f" "ELF")) return "an executable (ELF)";
    const std::size_t n = std::min<std::size_t>(bytes.size(), 256);
    std::size_t text = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(bytes[i]);
        text += (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\r' || c == '\t' || c >= 0x80;
    }
    if (n >= 8 && text == n) return "a text file";
    return "";
}

[[noreturn]] void fail_not_safetensors(const std::string& source, const std::string& bytes, const std::string& detail) {
    const std::string kind = looks_like(bytes);
    fail(source, kind.empty() ? fmt::format("not a safetensors file, or a damaged one: {}", detail)
                              : fmt::format("not a safetensors file: it looks like {} ({})", kind, detail));
}

}  // namespace

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::set<std::string> seen;
    uint64_t offset = 0;
    for (const auto& [name, t] : tensors) {
        if (name.empty() || name == "__metadata__" || !seen.insert(name).second)
            fail(path, fmt::format("bad or repeated tensor name '{}'", name));
        if (!t.defined()) fail(path, fmt::format("tensor '{}' is undefined", name));
        const uint64_t n = t.nbytes();
        header[name] = {{"dtype", dtype_tag(t.dtype())},
                        {"shape", t.shape()},
                        {"data_offsets", {offset, offset + n}}};
        offset += n;
    }
    std::string json = header.dump();
    json.append((8 - json.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
    std::string head(8, '\0');
    const uint64_t len = json.size();
    std::memcpy(head.data(), &len, 8);
    const std::string prefix = head + json;
    std::vector<std::string_view> pieces{prefix};
    for (const auto& [name, t] : tensors) pieces.emplace_back(static_cast<const char*>(t.raw_data()), t.nbytes());
    tg::write_file_atomically(path, pieces, "safetensors");
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
    tg::write_file_atomically(path, {std::string_view(bytes)}, "safetensors");
}

SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& source) {
    if (bytes.size() < 8)
        fail_not_safetensors(source, bytes,
                             fmt::format("file is {} bytes, too short for the 8-byte header length", bytes.size()));
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    if (n > kMaxHeader || n > bytes.size() - 8)
        fail_not_safetensors(source, bytes,
                             fmt::format("header length {} runs past the end of the file ({} bytes)", n, bytes.size()));
    const nlohmann::json header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n), nullptr, false);
    if (header.is_discarded()) fail_not_safetensors(source, bytes, "the header is not valid JSON");
    if (!header.is_object()) fail(source, "the header is not a JSON object");
    const uint64_t data_size = bytes.size() - 8 - n;
    const char* data = bytes.data() + 8 + n;

    struct Entry {
        std::string name;
        Dtype dtype;
        Shape shape;
        uint64_t begin, end;
    };
    std::vector<Entry> entries;
    SafetensorsFile out;
    for (const auto& [name, v] : header.items()) {
        if (name == "__metadata__") {
            if (!v.is_object()) fail(source, "__metadata__ is not an object");
            for (const auto& [k, mv] : v.items()) {
                if (!mv.is_string()) fail(source, fmt::format("__metadata__ value of '{}' is not a string", k));
                out.metadata[k] = mv.get<std::string>();
            }
            continue;
        }
        const std::string& entry = name;  // clang 14 cannot capture a structured binding
        auto bad = [&](const std::string& what) { fail(source, fmt::format("tensor '{}': {}", entry, what)); };
        if (!v.is_object()) bad("entry is not an object");
        if (!v.contains("dtype") || !v["dtype"].is_string()) bad("missing or non-string dtype");
        const std::string dt = v["dtype"].get<std::string>();
        Entry e{name, Dtype::f32, {}, 0, 0};
        if (dt == "F32") e.dtype = Dtype::f32;
        else if (dt == "F64") e.dtype = Dtype::f64;
        else if (dt == "I64") e.dtype = Dtype::i64;
        else if (dt == "BF16") e.dtype = Dtype::bf16;
        else if (dt == "BOOL") e.dtype = Dtype::b8;
        else bad(fmt::format("dtype {} is not supported (tapegrad reads F32, F64, I64, BF16 and BOOL)", dt));
        if (!v.contains("shape") || !v["shape"].is_array()) bad("missing shape");
        uint64_t numel = 1;
        for (const auto& d : v["shape"]) {
            if (!d.is_number_unsigned()) bad("shape holds a value that is not a non-negative integer");
            const uint64_t dim = d.get<uint64_t>();
            if (dim != 0 && numel > data_size / dim) numel = data_size + 1;  // too large; caught below
            else numel *= dim;
            e.shape.push_back(static_cast<int64_t>(dim));
        }
        const auto& off = v.contains("data_offsets") ? v["data_offsets"] : nlohmann::json();
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
            bad("data_offsets must be two non-negative integers");
        e.begin = off[0].get<uint64_t>();
        e.end = off[1].get<uint64_t>();
        if (e.end < e.begin || e.end > data_size)
            bad(fmt::format("data_offsets [{}, {}] lie outside the {} data bytes", e.begin, e.end, data_size));
        if (numel > data_size || e.end - e.begin != numel * dtype_size(e.dtype))
            bad(fmt::format("data_offsets [{}, {}] hold {} bytes, shape {} {} needs {}", e.begin, e.end,
                            e.end - e.begin, shape_str(e.shape), dt,
                            numel > data_size ? std::string("more than the file") : std::to_string(numel * dtype_size(e.dtype))));
        entries.push_back(std::move(e));
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t at = 0;
    for (const Entry& e : entries) {
        if (e.begin < at) fail(source, fmt::format("tensor '{}' overlaps the data of another tensor", e.name));
        if (e.begin > at) fail(source, fmt::format("the data has a hole of {} bytes before tensor '{}'", e.begin - at, e.name));
        at = e.end;
    }
    if (at != data_size)
        fail(source, fmt::format("{} data bytes after the last tensor are not described by the header", data_size - at));
    for (const Entry& e : entries) {
        if (e.dtype == Dtype::b8)  // b8 is C++ bool: any byte but 0 and 1 would be undefined behaviour to read
            for (uint64_t i = e.begin; i < e.end; ++i)
                if (static_cast<unsigned char>(data[i]) > 1)
                    fail(source, fmt::format("tensor '{}': BOOL element {} is the byte 0x{:02x}; a BOOL element must be 0 or 1",
                                             e.name, i - e.begin, static_cast<unsigned char>(data[i])));
        Tensor t = Tensor::empty(e.shape, e.dtype);
        if (t.nbytes()) std::memcpy(t.raw_data(), data + e.begin, t.nbytes());
        out.tensors.emplace_back(e.name, t);
    }
    return out;
}

SafetensorsFile load_safetensors(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, "cannot open for reading: " + errno_text());
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) fail(path, "read failed");
    return parse_safetensors(ss.str(), path);
}

}  // namespace tg::nn
