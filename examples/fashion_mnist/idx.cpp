#include "idx.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace example {

namespace fs = std::filesystem;

std::string read_maybe_gzipped(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw DataError(fmt::format("cannot open {}", path));
    std::stringstream ss;
    ss << in.rdbuf();
    std::string raw = ss.str();
    if (raw.size() < 2 || static_cast<uint8_t>(raw[0]) != 0x1f || static_cast<uint8_t>(raw[1]) != 0x8b) return raw;

    // gzip: inflate with zlib's automatic header detection (windowBits 15 + 32).
    z_stream z{};
    if (inflateInit2(&z, 15 + 32) != Z_OK) throw DataError(fmt::format("{}: cannot start zlib", path));
    z.next_in = reinterpret_cast<Bytef*>(raw.data());
    z.avail_in = static_cast<uInt>(raw.size());
    std::string out;
    char buf[1 << 16];
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            const std::string why = z.msg ? z.msg : (rc == Z_BUF_ERROR ? "the data ends early" : "corrupt data");
            inflateEnd(&z);
            throw DataError(fmt::format("{}: not a valid gzip file ({})", path, why));
        }
        out.append(buf, sizeof buf - z.avail_out);
    }
    inflateEnd(&z);
    return out;
}

namespace {

uint32_t big_endian(const std::string& s, std::size_t at) {
    return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) |
           (uint32_t(uint8_t(s[at + 2])) << 8) | uint32_t(uint8_t(s[at + 3]));
}

// The file as given, or with .gz added or removed, whichever exists.
std::string find_file(const std::string& dir, const std::string& name) {
    for (const std::string& candidate : {name + ".gz", name}) {
        const fs::path p = fs::path(dir) / candidate;
        if (fs::exists(p)) return p.string();
    }
    throw DataError(fmt::format(
        "{}/{}.gz not found: the Fashion-MNIST files come from Debian's dataset-fashion-mnist package "
        "(apt-get install dataset-fashion-mnist), or give their folder with --data",
        dir, name));
}

// An IDX file of unsigned bytes with the given number of dims: returns the dims and the data.
std::pair<std::vector<int64_t>, std::string> read_idx(const std::string& path, uint32_t dims) {
    std::string s = read_maybe_gzipped(path);
    const uint32_t magic = 0x800 + dims;  // type 0x08 (unsigned byte), then the number of dims
    if (s.size() < 4 || big_endian(s, 0) != magic)
        throw DataError(fmt::format("{}: not an IDX file of {}-d unsigned bytes (magic number {}, expected {})", path,
                                    dims, s.size() < 4 ? std::string("missing") : std::to_string(big_endian(s, 0)),
                                    magic));
    const std::size_t header = 4 + 4 * dims;
    if (s.size() < header) throw DataError(fmt::format("{}: the header is cut short ({} bytes)", path, s.size()));
    std::vector<int64_t> shape;
    uint64_t count = 1;
    for (uint32_t d = 0; d < dims; ++d) {
        shape.push_back(big_endian(s, 4 + 4 * d));
        count *= static_cast<uint64_t>(shape.back());
    }
    if (s.size() - header != count)
        throw DataError(fmt::format("{}: the header announces {} bytes of data, the file holds {}", path, count,
                                    s.size() - header));
    return {shape, s.substr(header)};
}

}  // namespace

ImageSet read_idx_pair(const std::string& dir, const std::string& prefix, int num_classes, int64_t limit) {
    const std::string images_path = find_file(dir, prefix + "-images-idx3-ubyte");
    const std::string labels_path = find_file(dir, prefix + "-labels-idx1-ubyte");
    auto [ishape, pixels] = read_idx(images_path, 3);
    auto [lshape, labels] = read_idx(labels_path, 1);
    if (ishape[0] != lshape[0])
        throw DataError(fmt::format("{} holds {} images but {} holds {} labels", images_path, ishape[0], labels_path,
                                    lshape[0]));
    if (ishape[0] == 0 || ishape[1] == 0 || ishape[2] == 0)
        throw DataError(fmt::format("{}: no images ({} x {} x {})", images_path, ishape[0], ishape[1], ishape[2]));
    ImageSet set;
    set.n = limit > 0 ? std::min(limit, ishape[0]) : ishape[0];
    set.rows = ishape[1];
    set.cols = ishape[2];
    set.pixels.assign(pixels.begin(), pixels.begin() + set.n * set.rows * set.cols);
    set.labels.assign(labels.begin(), labels.begin() + set.n);
    for (int64_t i = 0; i < set.n; ++i)
        if (set.labels[i] >= num_classes)
            throw DataError(fmt::format("{}: label {} of item {} is not below {}", labels_path, int(set.labels[i]), i,
                                        num_classes));
    return set;
}

}  // namespace example
