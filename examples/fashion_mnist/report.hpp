#pragma once
// What a Fashion-MNIST run leaves behind: metrics.csv and report.svg (learning curves, the
// confusion matrix on the test set, and test images with their predicted and true labels).
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace example {

inline constexpr int kClasses = 10;
inline const std::array<const char*, kClasses> kClassNames = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

/// One row of metrics.csv, one per epoch.
struct EpochRow {
    int64_t epoch = 0;
    double train_loss = 0, train_accuracy = 0, test_loss = 0, test_accuracy = 0, images_per_s = 0;
};

/// metrics.csv, with the header epoch,train_loss,train_accuracy,test_loss,test_accuracy,images_per_s.
std::string metrics_csv(const std::vector<EpochRow>& rows);

/// A test image shown in the report, with the model's prediction.
struct Sample {
    std::vector<uint8_t> pixels;  // rows * cols
    int64_t rows = 0, cols = 0;
    int predicted = 0, label = 0;
};

/// confusion[t][p]: test images of true class t predicted as p.
using Confusion = std::array<std::array<int64_t, kClasses>, kClasses>;

/// One self-contained SVG document: loss and accuracy per epoch (train and test), the confusion
/// matrix, and test images in one column per true class, each with its prediction (red when
/// wrong); at most 3 samples per class are drawn.
std::string report_svg(const std::vector<EpochRow>& rows, const Confusion& confusion, const std::vector<Sample>& samples,
                       const std::string& subtitle);

/// A grayscale PNG of the pixels (rows x cols, 0 = black), as a data: URI.
std::string png_data_uri(const std::vector<uint8_t>& pixels, int64_t rows, int64_t cols);

}  // namespace example
