#pragma once
// Dataset readers: MNIST-style IDX image files (Fashion-MNIST as Debian's dataset-fashion-mnist
// ships it), memory-mapped token files (the uint16 .bin files nanoGPT and llm.c write) and text
// files read as bytes. Part of tapegrad::data. Every error is an IOError naming the file and what
// is wrong with it.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/random.hpp"
#include "dataset.hpp"

namespace tg::data {

/// The whole contents of a file, gunzipped when it starts with gzip's magic bytes.
std::string read_file(const std::string& path);

/// Images (n, rows, cols) of unsigned bytes and their labels, row-major, as IDX files hold them.
struct IdxImages {
    int64_t n = 0, rows = 0, cols = 0;
    std::vector<uint8_t> pixels;  // n * rows * cols
    std::vector<uint8_t> labels;  // n
};

/// Reads <dir>/<prefix>-images-idx3-ubyte[.gz] and <dir>/<prefix>-labels-idx1-ubyte[.gz]
/// (prefix "train" or "t10k"). Checks the magic numbers (2051 and 2049), that the sizes in the
/// headers match the file lengths exactly, that both files hold the same number of items, and
/// that every label is below num_classes. At most limit items are kept (0: all).
IdxImages read_idx_pair(const std::string& dir, const std::string& prefix, int num_classes, int64_t limit = 0);

struct FashionMNISTOptions {
    bool train = true;   ///< the 60000 training images, else the 10000 test images
    int64_t limit = 0;   ///< keep the first `limit` images (0: all)
};

/// Fashion-MNIST, as torchvision.datasets.FashionMNIST with ToTensor(): example i is
/// {image (1, 28, 28) f32 in [0, 1], label 0-d i64 in [0, 10)}. The files come from Debian's
/// dataset-fashion-mnist package (the default root) or any folder holding the four IDX files.
class FashionMNIST : public Dataset {
public:
    static constexpr const char* kDefaultRoot = "/usr/share/datasets/fashion-mnist";
    static const std::array<const char*, 10> kClasses;  ///< "T-shirt/top", "Trouser", ...

    explicit FashionMNIST(const std::string& root = kDefaultRoot, const FashionMNISTOptions& options = {});
    int64_t size() const override { return images_.n; }
    Example get(int64_t index) const override;
    Batch get_batch(const std::vector<int64_t>& indices) const override;
    std::string name() const override;
    /// The raw bytes, for a model that normalises or augments them itself.
    const IdxImages& images() const { return images_; }

private:
    IdxImages images_;
    bool train_;
};

/// A read-only memory map of a whole file (the pages are read as they are touched).
class MappedFile {
public:
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    const uint8_t* data() const { return data_; }
    std::size_t size() const { return size_; }
    const std::string& path() const { return path_; }

private:
    std::string path_;
    const uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
};

/// Windows of `context` tokens of a memory-mapped token file, as nanoGPT's get_batch reads
/// them: example i is {x = tokens[i, i + context), y = tokens[i + 1, i + context + 1)}, both
/// (context) i64, for i in [0, num_tokens - context). The file is never read whole: a window
/// touches only its own pages. Two layouts are recognised: nanoGPT's (raw little-endian uint16
/// tokens) and llm.c's (a header of 256 int32: magic 20240520, version 1, the token count; then
/// uint16 tokens).
class TokenFile : public Dataset {
public:
    TokenFile(const std::string& path, int64_t context);
    int64_t size() const override { return num_tokens_ - context_; }
    Example get(int64_t index) const override;
    std::string name() const override;
    int64_t num_tokens() const { return num_tokens_; }
    int64_t context() const { return context_; }
    /// Token k (0 <= k < num_tokens()).
    int64_t token(int64_t k) const;
    /// `batch` windows at random starts drawn from gen: {x (batch, context), y (batch, context)}.
    std::pair<Tensor, Tensor> random_batch(int64_t batch, Generator& gen) const;

    /// Writes ids in nanoGPT's layout (raw little-endian uint16), through a temporary file
    /// renamed into place. Every id must be in [0, 65536) (ValueError naming the first that is
    /// not: use a vocabulary of at most 65536 tokens).
    static void write(const std::string& path, const std::vector<int64_t>& ids);

private:
    std::shared_ptr<MappedFile> file_;
    const uint16_t* tokens_ = nullptr;
    int64_t num_tokens_ = 0, context_ = 0;
};

/// A text file read as bytes, for byte-level (character-level) models: token k is byte k
/// (0-255), and example i is the window {x = bytes[i, i + context), y = bytes[i + 1, i +
/// context + 1)} as in TokenFile. Memory-mapped, so any size works.
class TextFile : public Dataset {
public:
    TextFile(const std::string& path, int64_t context);
    int64_t size() const override { return static_cast<int64_t>(file_->size()) - context_; }
    Example get(int64_t index) const override;
    std::string name() const override;
    std::string_view text() const {
        return {reinterpret_cast<const char*>(file_->data()), file_->size()};
    }
    int64_t context() const { return context_; }
    std::pair<Tensor, Tensor> random_batch(int64_t batch, Generator& gen) const;

private:
    std::shared_ptr<MappedFile> file_;
    int64_t context_ = 0;
};

}  // namespace tg::data
