#include "report.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace example {

std::string metrics_csv(const std::vector<EpochRow>& rows) {
    std::string out = "epoch,train_loss,train_accuracy,test_loss,test_accuracy,images_per_s\n";
    for (const EpochRow& r : rows)
        out += fmt::format("{},{:.6g},{:.6g},{:.6g},{:.6g},{:.1f}\n", r.epoch, r.train_loss, r.train_accuracy,
                           r.test_loss, r.test_accuracy, r.images_per_s);
    return out;
}

namespace {

void put_u32(std::string& s, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((v >> shift) & 0xff);
}

// A PNG chunk: length, type, data, and the CRC-32 of type and data.
void chunk(std::string& png, const char* type, const std::string& data) {
    put_u32(png, static_cast<uint32_t>(data.size()));
    const std::string body = std::string(type, 4) + data;
    png += body;
    put_u32(png, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
}

std::string base64(const std::string& in) {
    static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
        for (int s = 18; s >= 0; s -= 6) out += k[(v >> s) & 63];
    }
    if (i < in.size()) {
        uint32_t v = uint8_t(in[i]) << 16;
        if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
        out += k[(v >> 18) & 63];
        out += k[(v >> 12) & 63];
        out += i + 1 < in.size() ? k[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

}  // namespace

std::string png_data_uri(const std::vector<uint8_t>& pixels, int64_t rows, int64_t cols) {
    if (static_cast<int64_t>(pixels.size()) != rows * cols) throw std::invalid_argument("png_data_uri: size mismatch");
    std::string png = "\x89PNG\r\n\x1a\n";
    std::string ihdr;
    put_u32(ihdr, static_cast<uint32_t>(cols));
    put_u32(ihdr, static_cast<uint32_t>(rows));
    ihdr += std::string("\x08\x00\x00\x00\x00", 5);  // 8-bit grayscale, deflate, no filter, no interlace
    chunk(png, "IHDR", ihdr);
    std::string raw;  // each scanline starts with its filter type (0: none)
    for (int64_t r = 0; r < rows; ++r) {
        raw += '\0';
        raw.append(reinterpret_cast<const char*>(pixels.data() + r * cols), static_cast<std::size_t>(cols));
    }
    uLongf size = compressBound(static_cast<uLong>(raw.size()));
    std::string z(size, '\0');
    if (compress2(reinterpret_cast<Bytef*>(z.data()), &size, reinterpret_cast<const Bytef*>(raw.data()),
                  static_cast<uLong>(raw.size()), 9) != Z_OK)
        throw std::runtime_error("png_data_uri: zlib failed");
    z.resize(size);
    chunk(png, "IDAT", z);
    chunk(png, "IEND", "");
    return "data:image/png;base64," + base64(png);
}

namespace {

// Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten.
std::vector<double> ticks(double lo, double hi, int target = 5) {
    const double span = std::max(hi - lo, 1e-12);
    const double raw = span / target, mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
    std::vector<double> out;
    for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) out.push_back(t);
    return out;
}

struct Curve {
    std::vector<double> y;
    const char* colour;
    const char* label;
    bool dashed;
};

std::string line_panel(double x0, double y0, double w, double h, const std::string& title, const std::string& ylabel,
                       int64_t epochs, const std::vector<Curve>& curves, bool percent, bool legend_low) {
    double lo = INFINITY, hi = -INFINITY;
    for (const Curve& c : curves)
        for (double v : c.y)
            if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    if (!std::isfinite(lo)) lo = 0, hi = 1;
    const double pad = std::max((hi - lo) * 0.08, percent ? 0.005 : 0.01);
    lo -= pad;
    hi += pad;
    const std::vector<double> yt = ticks(lo, hi);
    lo = std::min(lo, yt.front());
    hi = std::max(hi, yt.back());
    const double xmin = 1, xmax = std::max<double>(2, static_cast<double>(epochs));
    auto px = [&](double x) { return x0 + (x - xmin) / (xmax - xmin) * w; };
    auto py = [&](double y) { return y0 + h - (y - lo) / (hi - lo) * h; };

    std::string s = fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#333"/>)", x0, y0, w, h);
    s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle" font-size="15" font-weight="bold">{}</text>)", x0 + w / 2,
                     y0 - 12, title);
    for (double t : yt) {
        if (t < lo - 1e-12 || t > hi + 1e-12) continue;
        s += fmt::format(R"(<line x1="{0}" x2="{1}" y1="{2:.1f}" y2="{2:.1f}" stroke="#ddd"/>)", x0, x0 + w, py(t));
        s += fmt::format(R"(<text x="{}" y="{:.1f}" text-anchor="end" font-size="11">{}</text>)", x0 - 5, py(t) + 4,
                         percent ? fmt::format("{:g}%", std::round(t * 1000) / 10) : fmt::format("{:g}", t));
    }
    for (double t : ticks(xmin, xmax, std::min<int>(static_cast<int>(xmax - xmin), 8))) {
        if (t != std::floor(t)) continue;
        s += fmt::format(R"(<text x="{:.1f}" y="{}" text-anchor="middle" font-size="11">{:g}</text>)", px(t), y0 + h + 15, t);
    }
    s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle" font-size="12">epoch</text>)", x0 + w / 2, y0 + h + 32);
    s += fmt::format(R"svg(<text x="{}" y="{}" text-anchor="middle" font-size="12" transform="rotate(-90 {} {})">{}</text>)svg",
                     x0 - 48, y0 + h / 2, x0 - 48, y0 + h / 2, ylabel);
    int legend = 0;
    for (const Curve& c : curves) {
        std::string pts;
        for (std::size_t i = 0; i < c.y.size(); ++i)
            if (std::isfinite(c.y[i])) pts += fmt::format("{:.1f},{:.1f} ", px(static_cast<double>(i + 1)), py(c.y[i]));
        s += fmt::format(R"(<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{}/>)", pts, c.colour,
                         c.dashed ? R"( stroke-dasharray="6 4")" : "");
        for (std::size_t i = 0; i < c.y.size(); ++i)
            if (std::isfinite(c.y[i]))
                s += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3" fill="{}"/>)", px(static_cast<double>(i + 1)),
                                 py(c.y[i]), c.colour);
        const double ly = legend_low ? y0 + h - 16 * static_cast<double>(curves.size()) + 16 * legend++ - 6
                                     : y0 + 16 + 16 * legend++;
        s += fmt::format(R"(<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}" stroke-width="2"{}/>)", x0 + w - 120,
                         x0 + w - 96, ly, ly, c.colour, c.dashed ? R"( stroke-dasharray="6 4")" : "");
        s += fmt::format(R"(<text x="{}" y="{}" font-size="12">{}</text>)", x0 + w - 90, ly + 4, c.label);
    }
    return s;
}

std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) out += c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : std::string(1, c);
    return out;
}

}  // namespace

std::string report_svg(const std::vector<EpochRow>& rows, const Confusion& confusion, const std::vector<Sample>& samples,
                       const std::string& subtitle) {
    const double width = 1240, height = 1090;
    std::string s = fmt::format(
        R"(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" font-family="sans-serif">)",
        width, height);
    s += R"(<rect width="100%" height="100%" fill="white"/>)";
    s += R"(<text x="620" y="30" text-anchor="middle" font-size="20" font-weight="bold">A small CNN on Fashion-MNIST (tapegrad)</text>)";
    s += fmt::format(R"(<text x="620" y="52" text-anchor="middle" font-size="13" fill="#444">{}</text>)", escape(subtitle));

    std::vector<double> tl, vl, ta, va;
    for (const EpochRow& r : rows) {
        tl.push_back(r.train_loss);
        vl.push_back(r.test_loss);
        ta.push_back(r.train_accuracy);
        va.push_back(r.test_accuracy);
    }
    const auto epochs = static_cast<int64_t>(rows.size());
    s += line_panel(90, 100, 480, 260, "Loss (cross-entropy)", "loss", epochs,
                    {{tl, "#1f77b4", "train", true}, {vl, "#d62728", "test", false}}, false, false);
    s += line_panel(90, 450, 480, 260, "Accuracy", "accuracy", epochs,
                    {{ta, "#1f77b4", "train", true}, {va, "#d62728", "test", false}}, true, true);

    // Confusion matrix: rows are true classes, columns predictions; shade by the row's share.
    const double cx = 760, cy = 140, cell = 40;
    s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle" font-size="15" font-weight="bold">Confusion matrix (test set)</text>)",
                     cx + 5 * cell, cy - 40);
    s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle" font-size="12">predicted</text>)", cx + 5 * cell, cy - 22);
    for (int t = 0; t < kClasses; ++t) {
        int64_t total = 0;
        for (int p = 0; p < kClasses; ++p) total += confusion[t][p];
        s += fmt::format(R"(<text x="{}" y="{}" text-anchor="end" font-size="11">{}</text>)", cx - 6, cy + t * cell + cell / 2 + 4,
                         escape(kClassNames[t]));
        for (int p = 0; p < kClasses; ++p) {
            const double share = total ? static_cast<double>(confusion[t][p]) / static_cast<double>(total) : 0;
            const int shade = static_cast<int>(std::lround(255 * (1 - std::sqrt(share))));
            const std::string fill = t == p ? fmt::format("rgb({},{},255)", shade, shade)
                                            : fmt::format("rgb(255,{},{})", shade, shade);
            s += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="{}" stroke="#fff"/>)", cx + p * cell,
                             cy + t * cell, cell, cell, fill);
            if (confusion[t][p] > 0)
                s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle" font-size="10" fill="{}">{}</text>)",
                                 cx + p * cell + cell / 2, cy + t * cell + cell / 2 + 4, share > 0.45 ? "#fff" : "#000",
                                 confusion[t][p]);
        }
    }
    for (int p = 0; p < kClasses; ++p)
        s += fmt::format(R"svg(<text x="{0}" y="{1}" font-size="11" transform="rotate(45 {0} {1})">{2}</text>)svg",
                         cx + p * cell + cell / 2 - 4, cy + kClasses * cell + 8, escape(kClassNames[p]));

    // Test images, one column per true class: the prediction, red when wrong.
    const double gx = 70, gy = 800, size = 56, pitch_x = 112, pitch_y = 92;
    s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle" font-size="15" font-weight="bold">Test images by true class, with the prediction (mistakes in red)</text>)",
                     width / 2, gy - 34);
    std::array<int, kClasses> row{};
    for (const Sample& m : samples) {
        const int col = m.label, r = row[static_cast<std::size_t>(m.label)]++;
        const double x = gx + col * pitch_x, y = gy + r * pitch_y;
        if (r == 0)
            s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle" font-size="11" font-weight="bold">{}</text>)",
                             x + size / 2, gy - 12, escape(kClassNames[static_cast<std::size_t>(col)]));
        s += fmt::format(R"(<image x="{}" y="{}" width="{}" height="{}" style="image-rendering:pixelated" href="{}"/>)", x, y,
                         size, size, png_data_uri(m.pixels, m.rows, m.cols));
        const bool right = m.predicted == m.label;
        s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle" font-size="10" fill="{}">{}</text>)", x + size / 2,
                         y + size + 13, right ? "#222" : "#d62728", escape(kClassNames[static_cast<std::size_t>(m.predicted)]));
    }
    return s + "</svg>\n";
}

}  // namespace example
