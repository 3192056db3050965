#pragma once
/// \file
/// Dataset readers: MNIST-style IDX image files (Fashion-MNIST as Debian's dataset-fashion-mnist
/// ships it), memory-mapped token files (the uint16 .bin files nanoGPT and llm.c write) and text
/// files read as bytes. Part of tapegrad::data. Every error in reading a file is an IOError naming
/// the file and what is wrong with it; bad arguments (a context too large for the file, say) are
/// ValueErrors.
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
    /// The number of images.
    int64_t n = 0, rows = 0, cols = 0;
    /** \var rows
        Rows of each image. */
    /** \var cols
        Columns of each image. */
    std::vector<uint8_t> pixels;  ///< n * rows * cols bytes, image by image, row by row.
    std::vector<uint8_t> labels;  ///< n labels.
};

/// Reads `DIR/PREFIX-images-idx3-ubyte[.gz]` and `DIR/PREFIX-labels-idx1-ubyte[.gz]` (DIR is
/// `dir`, PREFIX is `prefix`: "train" or "t10k"; the .gz file is taken when both exist).
/// Checks the magic numbers (2051 and 2049), that the sizes in the headers match the file
/// lengths exactly, that both files hold the same number of items, and that every label is
/// below num_classes. At most limit items are kept (0: all).
IdxImages read_idx_pair(const std::string& dir, const std::string& prefix, int num_classes, int64_t limit = 0);

/// Options of a FashionMNIST dataset.
struct FashionMNISTOptions {
    bool train = true;   ///< the 60000 training images, else the 10000 test images
    int64_t limit = 0;   ///< keep the first `limit` images (0: all)
};

/// Fashion-MNIST, as torchvision.datasets.FashionMNIST with ToTensor(): example i is
/// {image (1, 28, 28) f32 in [0, 1], label 0-d i64 in [0, 10)}. The files come from Debian's
/// dataset-fashion-mnist package (the default root) or any folder holding the four IDX files.
class FashionMNIST : public Dataset {
public:
    /// Where Debian's dataset-fashion-mnist package installs the files.
    static constexpr const char* kDefaultRoot = "/usr/share/datasets/fashion-mnist";
    static const std::array<const char*, 10> kClasses;  ///< "T-shirt/top", "Trouser", ...

    /// Reads the training or test pair of IDX files in `root` (read_idx_pair), whole into
    /// memory. IOError if they are missing (saying which package ships them), malformed or not
    /// 28 x 28 images; ValueError on a negative limit.
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
    /// Maps the regular file at `path` (IOError if it cannot be opened or mapped, or is a
    /// directory). An empty file maps to no memory: data() is null and size() 0.
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    /// The file's bytes, valid while the MappedFile lives.
    const uint8_t* data() const { return data_; }
    /// The file's length in bytes.
    std::size_t size() const { return size_; }
    /// The path it was opened with.
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
    /// Maps the file at `path` and checks its layout (IOError: it cannot be mapped, has a bad
    /// llm.c header, or an odd number of bytes without one). ValueError unless
    /// 1 <= context < num_tokens().
    TokenFile(const std::string& path, int64_t context);
    /// The number of windows: num_tokens() - context().
    int64_t size() const override { return num_tokens_ - context_; }
    Example get(int64_t index) const override;
    std::string name() const override;
    /// The number of tokens in the file (after the llm.c header, if any).
    int64_t num_tokens() const { return num_tokens_; }
    /// The window length.
    int64_t context() const { return context_; }
    /// Token k (0 <= k < num_tokens(); ValueError otherwise).
    int64_t token(int64_t k) const;
    /// `batch` windows at random starts drawn from gen: {x (batch, context), y (batch, context)},
    /// i64 (ValueError unless batch >= 1). The starts are uniform over [0, size()), with
    /// repeats, as nanoGPT's get_batch draws them.
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
    /// Maps the file at `path` (IOError if it cannot be mapped). ValueError unless 1 <= context
    /// and the file holds more than context bytes.
    TextFile(const std::string& path, int64_t context);
    /// The number of windows: the file's length in bytes - context().
    int64_t size() const override { return static_cast<int64_t>(file_->size()) - context_; }
    Example get(int64_t index) const override;
    std::string name() const override;
    /// The whole file, as it is mapped (no copy).
    std::string_view text() const {
        return {reinterpret_cast<const char*>(file_->data()), file_->size()};
    }
    /// The window length.
    int64_t context() const { return context_; }
    /// `batch` windows at random starts, as TokenFile::random_batch.
    std::pair<Tensor, Tensor> random_batch(int64_t batch, Generator& gen) const;

private:
    std::shared_ptr<MappedFile> file_;
    int64_t context_ = 0;
};

}  // namespace tg::data
