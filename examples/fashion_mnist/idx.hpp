#pragma once
// Reads the IDX files of MNIST-style datasets (gzipped or not), as Debian's
// dataset-fashion-mnist ships them under /usr/share/datasets/fashion-mnist.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace example {

/// A missing, unreadable or malformed data file; the message names the file and what is wrong.
struct DataError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Images (n, rows, cols) of unsigned bytes and their labels, row-major.
struct ImageSet {
    int64_t n = 0, rows = 0, cols = 0;
    std::vector<uint8_t> pixels;  // n * rows * cols
    std::vector<uint8_t> labels;  // n
};

/// Reads <dir>/<prefix>-images-idx3-ubyte[.gz] and <dir>/<prefix>-labels-idx1-ubyte[.gz]
/// (prefix "train" or "t10k"). Checks the magic numbers (2051 and 2049), that the sizes in the
/// headers match the file lengths exactly, that both files hold the same number of items, and
/// that every label is below num_classes. At most limit items are kept (0: all).
ImageSet read_idx_pair(const std::string& dir, const std::string& prefix, int num_classes, int64_t limit = 0);

/// The whole decompressed contents of a file, gunzipped when it starts with gzip's magic bytes.
std::string read_maybe_gzipped(const std::string& path);

}  // namespace example
