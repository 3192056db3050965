#include "data/readers.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/check.hpp"
#include "core/grad_mode.hpp"

namespace tg::data {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    TG_CHECK(in, IOError, "read_file: cannot open {}: {}", path, std::strerror(errno));
    std::stringstream ss;
    ss << in.rdbuf();
    std::string raw = ss.str();
    if (raw.size() < 2 || static_cast<uint8_t>(raw[0]) != 0x1f || static_cast<uint8_t>(raw[1]) != 0x8b) return raw;

    // gzip: inflate with zlib's automatic header detection (windowBits 15 + 32).
    z_stream z{};
    TG_CHECK(inflateInit2(&z, 15 + 32) == Z_OK, IOError, "read_file: {}: cannot start zlib", path);
    z.next_in = reinterpret_cast<Bytef*>(raw.data());
    z.avail_in = static_cast<uInt>(raw.size());
    std::string out;
    std::vector<char> buf(1 << 16);
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        z.next_out = reinterpret_cast<Bytef*>(buf.data());
        z.avail_out = static_cast<uInt>(buf.size());
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            const std::string why = z.msg ? z.msg : (rc == Z_BUF_ERROR ? "the data ends early" : "corrupt data");
            inflateEnd(&z);
            throw IOError(fmt::format("read_file: {}: not a valid gzip file ({})", path, why));
        }
        out.append(buf.data(), buf.size() - z.avail_out);
    }
    inflateEnd(&z);
    return out;
}

namespace {

uint32_t big_endian(const std::string& s, std::size_t at) {
    return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) |
           (uint32_t(uint8_t(s[at + 2])) << 8) | uint32_t(uint8_t(s[at + 3]));
}

// The file as given, or with .gz added, whichever exists.
std::string find_idx_file(const std::string& dir, const std::string& name) {
    for (const std::string& candidate : {name + ".gz", name}) {
        const fs::path p = fs::path(dir) / candidate;
        if (fs::exists(p)) return p.string();
    }
    throw IOError(fmt::format(
        "{}/{}.gz not found: the Fashion-MNIST files come from Debian's dataset-fashion-mnist package "
        "(apt-get install dataset-fashion-mnist), or give their folder",
        dir, name));
}

// An IDX file of unsigned bytes with the given number of dims: returns the dims and the data.
std::pair<std::vector<int64_t>, std::string> read_idx(const std::string& path, uint32_t dims) {
    std::string s = read_file(path);
    const uint32_t magic = 0x800 + dims;  // type 0x08 (unsigned byte), then the number of dims
    if (s.size() < 4 || big_endian(s, 0) != magic)
        throw IOError(fmt::format("{}: not an IDX file of {}-d unsigned bytes (magic number {}, expected {})", path,
                                  dims, s.size() < 4 ? std::string("missing") : std::to_string(big_endian(s, 0)),
                                  magic));
    const std::size_t header = 4 + 4 * dims;
    TG_CHECK(s.size() >= header, IOError, "{}: the header is cut short ({} bytes)", path, s.size());
    std::vector<int64_t> shape;
    uint64_t count = 1;
    for (uint32_t d = 0; d < dims; ++d) {
        shape.push_back(big_endian(s, 4 + 4 * d));
        count *= static_cast<uint64_t>(shape.back());
    }
    TG_CHECK(s.size() - header == count, IOError, "{}: the header announces {} bytes of data, the file holds {}", path,
             count, s.size() - header);
    return {shape, s.substr(header)};
}

}  // namespace

IdxImages read_idx_pair(const std::string& dir, const std::string& prefix, int num_classes, int64_t limit) {
    const std::string images_path = find_idx_file(dir, prefix + "-images-idx3-ubyte");
    const std::string labels_path = find_idx_file(dir, prefix + "-labels-idx1-ubyte");
    auto [ishape, pixels] = read_idx(images_path, 3);
    auto [lshape, labels] = read_idx(labels_path, 1);
    TG_CHECK(ishape[0] == lshape[0], IOError, "{} holds {} images but {} holds {} labels", images_path, ishape[0],
             labels_path, lshape[0]);
    TG_CHECK(ishape[0] != 0 && ishape[1] != 0 && ishape[2] != 0, IOError, "{}: no images ({} x {} x {})",
             images_path, ishape[0], ishape[1], ishape[2]);
    IdxImages set;
    set.n = limit > 0 ? std::min(limit, ishape[0]) : ishape[0];
    set.rows = ishape[1];
    set.cols = ishape[2];
    set.pixels.assign(pixels.begin(), pixels.begin() + set.n * set.rows * set.cols);
    set.labels.assign(labels.begin(), labels.begin() + set.n);
    for (int64_t i = 0; i < set.n; ++i)
        TG_CHECK(set.labels[static_cast<std::size_t>(i)] < num_classes, IOError, "{}: label {} of item {} is not below {}",
                 labels_path, int(set.labels[static_cast<std::size_t>(i)]), i, num_classes);
    return set;
}

const std::array<const char*, 10> FashionMNIST::kClasses = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

FashionMNIST::FashionMNIST(const std::string& root, const FashionMNISTOptions& options)
    : images_(read_idx_pair(root, options.train ? "train" : "t10k", 10, options.limit)), train_(options.train) {
    TG_CHECK(options.limit >= 0, ValueError, "FashionMNIST: limit must be >= 0, got {}", options.limit);
    TG_CHECK(images_.rows == 28 && images_.cols == 28, IOError, "FashionMNIST: {}: expected 28 x 28 images, got {} x {}",
             root, images_.rows, images_.cols);
}

std::string FashionMNIST::name() const {
    return fmt::format("FashionMNIST({}, {} images)", train_ ? "train" : "test", images_.n);
}

Example FashionMNIST::get(int64_t index) const {
    Batch b = get_batch({index});
    NoGradGuard no_grad;
    return {b.fields[0].select(0, 0), b.fields[1].select(0, 0)};
}

Batch FashionMNIST::get_batch(const std::vector<int64_t>& indices) const {
    TG_CHECK(!indices.empty(), ValueError, "{}: get_batch of no indices", name());
    for (int64_t i : indices) check_index(i);
    NoGradGuard no_grad;
    const auto n = static_cast<int64_t>(indices.size());
    const int64_t pixels = images_.rows * images_.cols;
    Tensor x = Tensor::empty({n, 1, images_.rows, images_.cols});
    Tensor y = Tensor::empty({n}, Dtype::i64);
    float* px = x.data<float>();
    int64_t* py = y.data<int64_t>();
    for (int64_t k = 0; k < n; ++k) {
        const auto item = static_cast<std::size_t>(indices[static_cast<std::size_t>(k)]);
        const uint8_t* src = images_.pixels.data() + item * static_cast<std::size_t>(pixels);
        for (int64_t p = 0; p < pixels; ++p) px[k * pixels + p] = static_cast<float>(src[p]) / 255.0f;
        py[k] = images_.labels[item];
    }
    x.mark_modified();
    y.mark_modified();
    return Batch{{x, y}, indices};
}

MappedFile::MappedFile(const std::string& path) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    TG_CHECK(fd >= 0, IOError, "MappedFile: cannot open {}: {}", path, std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        const std::string why = S_ISDIR(st.st_mode) ? "it is a directory" : std::strerror(errno);
        ::close(fd);
        throw IOError(fmt::format("MappedFile: cannot map {}: {}", path, why));
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        const int err = errno;
        ::close(fd);
        TG_CHECK(p != MAP_FAILED, IOError, "MappedFile: cannot map {} ({} bytes): {}", path, size_, std::strerror(err));
        data_ = static_cast<const uint8_t*>(p);
    } else {
        ::close(fd);
    }
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

namespace {

constexpr int32_t kLlmcMagic = 20240520;
constexpr std::size_t kLlmcHeaderBytes = 256 * sizeof(int32_t);

void check_context(const char* who, const std::string& path, int64_t context, int64_t tokens) {
    TG_CHECK(context >= 1, ValueError, "{}: {}: context must be >= 1, got {}", who, path, context);
    TG_CHECK(tokens > context, ValueError,
             "{}: {}: {} tokens are too few for one window of {} (a window needs context + 1 tokens)", who, path,
             tokens, context);
}

// {x, y} of the window starting at `start`, token(k) giving token k.
template <class TokenAt>
Example window(int64_t start, int64_t context, TokenAt token) {
    Tensor x = Tensor::empty({context}, Dtype::i64), y = Tensor::empty({context}, Dtype::i64);
    int64_t* px = x.data<int64_t>();
    int64_t* py = y.data<int64_t>();
    for (int64_t t = 0; t < context; ++t) {
        px[t] = token(start + t);
        py[t] = token(start + t + 1);
    }
    x.mark_modified();
    y.mark_modified();
    return {x, y};
}

template <class TokenAt>
std::pair<Tensor, Tensor> random_windows(int64_t batch, int64_t context, int64_t windows, Generator& gen,
                                         TokenAt token, const std::string& who) {
    TG_CHECK(batch >= 1, ValueError, "{}: random_batch: batch must be >= 1, got {}", who, batch);
    NoGradGuard no_grad;
    Tensor x = Tensor::empty({batch, context}, Dtype::i64), y = Tensor::empty({batch, context}, Dtype::i64);
    int64_t* px = x.data<int64_t>();
    int64_t* py = y.data<int64_t>();
    for (int64_t b = 0; b < batch; ++b) {
        const auto start = static_cast<int64_t>(gen.below(static_cast<uint64_t>(windows)));
        for (int64_t t = 0; t < context; ++t) {
            px[b * context + t] = token(start + t);
            py[b * context + t] = token(start + t + 1);
        }
    }
    x.mark_modified();
    y.mark_modified();
    return {x, y};
}

}  // namespace

TokenFile::TokenFile(const std::string& path, int64_t context)
    : file_(std::make_shared<MappedFile>(path)), context_(context) {
    const uint8_t* base = file_->data();
    const std::size_t bytes = file_->size();
    int32_t head[3] = {0, 0, 0};
    if (bytes >= kLlmcHeaderBytes) std::memcpy(head, base, sizeof head);
    if (bytes >= kLlmcHeaderBytes && head[0] == kLlmcMagic) {
        TG_CHECK(head[1] == 1, IOError, "TokenFile: {}: llm.c token file version {}; only version 1 (uint16 tokens) "
                                        "is supported", path, head[1]);
        TG_CHECK(head[2] >= 0 && bytes - kLlmcHeaderBytes == static_cast<std::size_t>(head[2]) * 2, IOError,
                 "TokenFile: {}: the llm.c header announces {} tokens ({} bytes), the file holds {} bytes after it",
                 path, head[2], int64_t{head[2]} * 2, bytes - kLlmcHeaderBytes);
        tokens_ = reinterpret_cast<const uint16_t*>(base + kLlmcHeaderBytes);
        num_tokens_ = head[2];
    } else {
        TG_CHECK(bytes % 2 == 0, IOError,
                 "TokenFile: {}: {} bytes is not a whole number of uint16 tokens (nanoGPT's layout), and the file "
                 "has no llm.c header (magic {})",
                 path, bytes, kLlmcMagic);
        tokens_ = reinterpret_cast<const uint16_t*>(base);
        num_tokens_ = static_cast<int64_t>(bytes / 2);
    }
    check_context("TokenFile", path, context, num_tokens_);
}

std::string TokenFile::name() const {
    return fmt::format("TokenFile({}, {} tokens, context {})", file_->path(), num_tokens_, context_);
}

int64_t TokenFile::token(int64_t k) const {
    TG_CHECK(k >= 0 && k < num_tokens_, ValueError, "{}: token {} is out of range", name(), k);
    return tokens_[k];
}

Example TokenFile::get(int64_t index) const {
    check_index(index);
    NoGradGuard no_grad;
    return window(index, context_, [&](int64_t k) { return int64_t{tokens_[k]}; });
}

std::pair<Tensor, Tensor> TokenFile::random_batch(int64_t batch, Generator& gen) const {
    return random_windows(batch, context_, size(), gen, [&](int64_t k) { return int64_t{tokens_[k]}; }, name());
}

void TokenFile::write(const std::string& path, const std::vector<int64_t>& ids) {
    std::vector<uint16_t> out(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        TG_CHECK(ids[i] >= 0 && ids[i] < 65536, ValueError,
                 "TokenFile::write: {}: id {} at position {} does not fit in uint16 (use a vocabulary of at most "
                 "65536 tokens)",
                 path, ids[i], i);
        out[i] = static_cast<uint16_t>(ids[i]);  // little-endian on the x86-64 machines we run on
    }
    write_file_atomically(path, {std::string_view(reinterpret_cast<const char*>(out.data()), out.size() * 2)},
                          "TokenFile::write");
}

TextFile::TextFile(const std::string& path, int64_t context)
    : file_(std::make_shared<MappedFile>(path)), context_(context) {
    check_context("TextFile", path, context, static_cast<int64_t>(file_->size()));
}

std::string TextFile::name() const {
    return fmt::format("TextFile({}, {} bytes, context {})", file_->path(), file_->size(), context_);
}

Example TextFile::get(int64_t index) const {
    check_index(index);
    NoGradGuard no_grad;
    const uint8_t* bytes = file_->data();
    return window(index, context_, [&](int64_t k) { return int64_t{bytes[k]}; });
}

std::pair<Tensor, Tensor> TextFile::random_batch(int64_t batch, Generator& gen) const {
    const uint8_t* bytes = file_->data();
    return random_windows(batch, context_, size(), gen, [&](int64_t k) { return int64_t{bytes[k]}; }, name());
}

}  // namespace tg::data
