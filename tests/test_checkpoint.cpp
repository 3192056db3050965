// safetensors checkpoints: exact round trips, and every way a file can be wrong.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <filesystem>
#include <functional>
#include <fstream>
#include <set>

#include "helpers.hpp"

using namespace tg;
using test::TempDir;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {


nn::GPTConfig tiny(Dtype dtype = Dtype::f32) {
    return {.vocab_size = 7, .context_length = 4, .d_model = 8, .n_layer = 2, .n_head = 2, .seed = 5, .dtype = dtype};
}

std::vector<std::vector<double>> values(const nn::Module& m) {
    std::vector<std::vector<double>> out;
    for (const Tensor& p : m.parameters()) out.push_back(p.to_vector<double>());
    return out;
}

// A file with the given header text and data bytes.
void write_raw(const std::string& path, const std::string& header, const std::string& data, int64_t claimed = -1) {
    std::ofstream f(path, std::ios::binary);
    const uint64_t n = claimed >= 0 ? static_cast<uint64_t>(claimed) : header.size();
    f.write(reinterpret_cast<const char*>(&n), 8);
    f << header << data;
}

std::string read_all(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("a checkpoint round trip is bit-exact in f32 and f64", "[checkpoint]") {
    TempDir dir;
    for (Dtype dt : {Dtype::f32, Dtype::f64}) {
        nn::GPT a(tiny(dt));
        nn::GPTConfig other = tiny(dt);
        other.seed = 99;
        nn::GPT b(other);
        REQUIRE(values(a) != values(b));
        a.save(dir.file("m.safetensors"));
        b.load(dir.file("m.safetensors"));
        CHECK(values(a) == values(b));
        CHECK(b.lm_head.weight.is_same(b.wte.weight));  // loading keeps the tie
    }
    // f32 data loads into an f64 model (converted exactly).
    nn::GPT f32(tiny(Dtype::f32));
    nn::GPT f64(tiny(Dtype::f64));
    f32.save(dir.file("f32.safetensors"));
    f64.load(dir.file("f32.safetensors"));
    CHECK(values(f32) == values(f64));
}

TEST_CASE("the written file has the safetensors layout", "[checkpoint]") {
    TempDir dir;
    nn::save_safetensors(dir.file("t.safetensors"),
                         {{"a", tensor({1.f, 2.f}, {2})}, {"b", tensor(std::vector<int64_t>{7}, {1, 1})}},
                         {{"format", "pt"}});
    const std::string bytes = read_all(dir.file("t.safetensors"));
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    CHECK(n % 8 == 0);
    CHECK(bytes.size() == 8 + n + 8 + 8);
    const std::string header = bytes.substr(8, n);
    CHECK_THAT(header, Contains(R"("__metadata__":{"format":"pt"})"));
    CHECK_THAT(header, Contains(R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})"));
    CHECK_THAT(header, Contains(R"("b":{"dtype":"I64","shape":[1,1],"data_offsets":[8,16]})"));
    float a[2];
    std::memcpy(a, bytes.data() + 8 + n, 8);
    CHECK(a[0] == 1.f);
    CHECK(a[1] == 2.f);
    const nn::SafetensorsFile back = nn::load_safetensors(dir.file("t.safetensors"));
    CHECK(back.metadata.at("format") == "pt");
    REQUIRE(back.tensors.size() == 2);
    CHECK(back.tensors[1].second.to_vector<int64_t>() == std::vector<int64_t>{7});
    // No temporary file is left behind.
    int files = 0;
    for (const auto& e : fs::directory_iterator(dir.path)) files += e.is_regular_file();
    CHECK(files == 1);
}

TEST_CASE("a bad checkpoint gives a clear error and leaves the model unchanged", "[checkpoint]") {
    TempDir dir;
    nn::GPT model(tiny());
    const auto before = values(model);
    const std::string good = dir.file("good.safetensors");
    model.save(good);
    const std::string bytes = read_all(good);
    const std::string path = dir.file("bad.safetensors");
    auto expect_error = [&](const std::string& message) {
        REQUIRE_THROWS_AS(model.load(path), IOError);
        REQUIRE_THROWS_WITH(model.load(path), Contains(message));
        CHECK(values(model) == before);
    };

    SECTION("truncated data") {
        std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() - 3);
        expect_error("data bytes");
    }
    SECTION("shorter than the length field") {
        std::ofstream(path, std::ios::binary) << bytes.substr(0, 5);
        expect_error("file is 5 bytes, too short for the 8-byte header length");
    }
    SECTION("header length past the end") {
        write_raw(path, "{}", "", 1000);
        expect_error("header length 1000 runs past the end of the file (10 bytes)");
    }
    SECTION("bad JSON") {
        write_raw(path, R"({"wte.weight": {"dtype": "F32", )", "");
        expect_error("the header is not valid JSON");
    }
    SECTION("a header that is not an object") {
        write_raw(path, "[1, 2]", "");
        expect_error("the header is not a JSON object");
    }
    SECTION("offsets past the end of the data") {
        write_raw(path, R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", "1234");
        expect_error("tensor 'x': data_offsets [0, 8] lie outside the 4 data bytes");
    }
    SECTION("a byte range that does not fit the shape") {
        write_raw(path, R"({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", "12345678");
        expect_error("tensor 'x': data_offsets [0, 8] hold 8 bytes, shape (3,) F32 needs 12");
    }
    SECTION("overlapping data") {
        write_raw(path,
                  R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "y": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                  "12345678");
        expect_error("overlaps the data of another tensor");
    }
    SECTION("a hole in the data") {
        write_raw(path, R"({"x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", "12345678");
        expect_error("the data has a hole of 4 bytes before tensor 'x'");
    }
    SECTION("an unsupported dtype") {
        write_raw(path, R"({"x": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}})", "12");
        expect_error("tensor 'x': dtype F16 is not supported (tapegrad reads F32, F64, I64, BF16 and BOOL)");
    }
    SECTION("a BOOL element that is neither 0 nor 1") {
        write_raw(path, R"({"x": {"dtype": "BOOL", "shape": [3], "data_offsets": [0, 3]}})", std::string("\x01\x00\x80", 3));
        expect_error("tensor 'x': BOOL element 2 is the byte 0x80; a BOOL element must be 0 or 1");
    }
    SECTION("a negative dim") {
        write_raw(path, R"({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", "1234");
        expect_error("shape holds a value that is not a non-negative integer");
    }
    SECTION("missing and unexpected names are all listed") {
        nn::NamedTensors params = model.named_parameters();
        params.erase(params.begin());  // no wte.weight
        params[0].first = "wpe.weights";
        nn::save_safetensors(path, params);
        expect_error("does not match this GPT; the model is unchanged:\n  missing (2): wte.weight, wpe.weight\n"
                     "  unexpected (1): wpe.weights\n  (load(path, {.strict = false}) loads the names both have");
    }
    SECTION("a wrong shape") {
        nn::NamedTensors params = model.named_parameters();
        params[1].second = Tensor::zeros({5, 8});
        nn::save_safetensors(path, params);
        expect_error("'wpe.weight' has shape (5, 8) in the file, (4, 8) in the model");
    }
    SECTION("a wrong dtype") {
        nn::NamedTensors params = model.named_parameters();
        params[1].second = Tensor::zeros({4, 8}, Dtype::i64);
        nn::save_safetensors(path, params);
        expect_error("'wpe.weight' has dtype i64 in the file");
    }
    SECTION("tied names with different values") {
        nn::NamedTensors params = model.named_parameters();
        params.emplace_back("lm_head.weight", Tensor::zeros({7, 8}));
        nn::save_safetensors(path, params);
        expect_error("'wte.weight' and 'lm_head.weight' are one tied parameter but hold different values");
    }
    SECTION("a file that does not exist") {
        expect_error("cannot open for reading");
    }
}

TEST_CASE("load with strict off loads the names both have and returns the others", "[checkpoint]") {
    TempDir dir;
    nn::GPT model(tiny());
    const std::string path = dir.file("partial.safetensors");
    nn::NamedTensors params = model.named_parameters();
    params.erase(params.begin());                                   // no wte.weight
    params.emplace_back("head.extra", Tensor::ones({3}));           // not in the model
    for (auto& [name, t] : params) t = Tensor::full(t.shape(), 0.25, t.dtype());
    nn::save_safetensors(path, params);
    const std::vector<double> wte_before = model.named_parameters()[0].second.to_vector<double>();
    REQUIRE_THROWS_AS(model.load(path), IOError);  // strict by default
    const nn::LoadResult r = model.load(path, {.strict = false});
    CHECK(r.missing_keys == std::vector<std::string>{"wte.weight"});
    CHECK(r.unexpected_keys == std::vector<std::string>{"head.extra"});
    const nn::NamedTensors now = model.named_parameters();
    CHECK(now[0].second.to_vector<double>() == wte_before);  // missing: left as it was
    for (std::size_t i = 1; i < now.size(); ++i)
        for (double v : now[i].second.to_vector<double>()) REQUIRE(v == 0.25);
    // A strict load that succeeds returns empty lists.
    model.save(path);
    const nn::LoadResult full = model.load(path);
    CHECK(full.missing_keys.empty());
    CHECK(full.unexpected_keys.empty());
    // Shapes must still fit when strict is off, and every mismatch gets a line of its own.
    nn::NamedTensors wrong = model.named_parameters();
    int changed = 0;
    for (auto& [name, t] : wrong)
        if (t.dim() == 1) {
            t = Tensor::zeros({t.shape()[0] + 1});
            ++changed;
        }
    REQUIRE(changed >= 4);
    nn::save_safetensors(path, wrong);
    try {
        model.load(path, {.strict = false});
        FAIL("a wrong shape loaded");
    } catch (const IOError& e) {
        const std::string what = e.what();
        int lines = 0;
        for (std::size_t at = what.find("\n  '"); at != std::string::npos; at = what.find("\n  '", at + 1)) ++lines;
        CHECK(lines == changed);
        CHECK_THAT(what, Contains("' has shape ("));
        CHECK_THAT(what, !Contains("strict = false"));  // not the hint when shapes are what is wrong
    }
}

TEST_CASE("bf16 tensors are saved as BF16 and load back bit for bit", "[checkpoint][bf16]") {
    TempDir dir;
    const std::string path = dir.file("b.safetensors");
    Tensor b = Tensor::empty({2, 4}, Dtype::bf16);
    const std::vector<uint16_t> bits = {0x0000, 0x8000, 0x0001, 0x7f7f, 0x7f80, 0xff80, 0x7fc1, 0x3f81};
    for (std::size_t i = 0; i < bits.size(); ++i) b.data<bfloat16>()[i] = bfloat16::from_bits(bits[i]);
    nn::save_safetensors(path, {{"b", b}, {"f", tensor({1.f}, {1})}});
    const std::string bytes = read_all(path);
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    CHECK_THAT(bytes.substr(8, n), Contains(R"("b":{"dtype":"BF16","shape":[2,4],"data_offsets":[0,16]})"));
    CHECK(bytes.size() == 8 + n + 16 + 4);
    uint16_t first_two[2];
    std::memcpy(first_two, bytes.data() + 8 + n, 4);  // little endian, 2 bytes per value
    CHECK(first_two[0] == 0x0000);
    CHECK(first_two[1] == 0x8000);

    const nn::SafetensorsFile back = nn::load_safetensors(path);
    REQUIRE(back.tensors.size() == 2);
    const Tensor& loaded = back.tensors[0].second;
    CHECK(loaded.dtype() == Dtype::bf16);
    CHECK(loaded.shape() == Shape{2, 4});
    CHECK(std::memcmp(loaded.raw_data(), b.raw_data(), 16) == 0);  // NaN payload and -0 included

    SECTION("a BF16 byte range must fit the shape") {
        write_raw(path, R"({"x": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 4]}})", "1234");
        REQUIRE_THROWS_WITH(nn::load_safetensors(path),
                            Contains("tensor 'x': data_offsets [0, 4] hold 4 bytes, shape (3,) BF16 needs 6"));
    }
}

TEST_CASE("a model saved in BF16 loads into f32 and f64 parameters as the rounded values", "[checkpoint][bf16]") {
    TempDir dir;
    const std::string path = dir.file("m.safetensors");
    nn::GPT a(tiny());
    nn::NamedTensors half;
    {
        NoGradGuard ng;  // the parameters require grad; bf16 copies of them cannot
        for (const auto& [name, p] : a.named_parameters()) half.emplace_back(name, p.to(Dtype::bf16));
    }
    nn::save_safetensors(path, half, {{"format", "pt"}});
    std::vector<std::vector<double>> rounded;
    for (const auto& [name, t] : half) rounded.push_back(t.to_vector<double>());

    for (Dtype dt : {Dtype::f32, Dtype::f64}) {
        nn::GPTConfig other = tiny(dt);
        other.seed = 99;
        nn::GPT b(other);
        b.load(path);
        CHECK(values(b) == rounded);
        CHECK(values(b) != values(a));  // bf16 did round: the f32 values are not all representable
        for (const Tensor& p : b.parameters()) {
            CHECK(p.dtype() == dt);
            CHECK(p.requires_grad());
        }
        CHECK(b.lm_head.weight.is_same(b.wte.weight));
    }
}

TEST_CASE("a bf16 checkpoint written by PyTorch loads with PyTorch's values", "[checkpoint][bf16]") {
    // tests/data/make_bf16_checkpoint.py: PyTorch 1.13's own rounding and BF16 layout.
    const std::string data = TG_TEST_DATA_DIR;
    const auto ref = test::read_reference(data + "/bf16_values.safetensors");
    const Tensor& theirs = ref.at("values_bf16");
    REQUIRE(theirs.dtype() == Dtype::bf16);
    const Tensor ours = ref.at("values").to(Dtype::bf16);
    REQUIRE(ours.numel() == theirs.numel());
    // The same bits for every number (ties, denormals, overflow). A NaN is a NaN in both; its
    // bits differ: PyTorch's vector code writes 0xffff, tapegrad keeps the sign and quiets it.
    int64_t numbers = 0, differ_bits = 0, nans = 0;
    for (int64_t i = 0; i < ours.numel(); ++i) {
        const bfloat16 a = ours.data<bfloat16>()[i], b = theirs.data<bfloat16>()[i];
        if (std::isnan(a.to_float()) || std::isnan(b.to_float())) {
            nans += std::isnan(a.to_float()) && std::isnan(b.to_float());
            continue;
        }
        ++numbers;
        differ_bits += a.bits() != b.bits();
    }
    CHECK(differ_bits == 0);
    CHECK(nans == 1);
    CHECK(numbers == ours.numel() - 1);
    const std::vector<float> widened = theirs.to(Dtype::f32).to_vector<float>();
    const std::vector<float> want = ref.at("values_bf16_as_f32").to_vector<float>();
    int64_t differ = 0;
    for (std::size_t i = 0; i < want.size(); ++i)
        differ += std::memcmp(&widened[i], &want[i], sizeof(float)) != 0;
    CHECK(differ == 0);

    // A state_dict stored in bf16 loads into an f32 nn::Linear (converted, as load_state_dict does).
    nn::Linear linear(4, 3);
    linear.load(data + "/bf16_linear.safetensors");
    CHECK(linear.weight.dtype() == Dtype::f32);
    CHECK(linear.weight.to_vector<float>() == ref.at("linear.weight_bf16_as_f32").to_vector<float>());
    CHECK(linear.bias.to_vector<float>() == ref.at("linear.bias_bf16_as_f32").to_vector<float>());
}

TEST_CASE("a failed save leaves no file and the old checkpoint intact", "[checkpoint]") {
    TempDir dir;
    nn::GPT model(tiny());
    REQUIRE_THROWS_AS(model.save(dir.file("no/such/dir/m.safetensors")), IOError);
    REQUIRE_THROWS_WITH(nn::save_safetensors(dir.file("x.safetensors"), {{"a", Tensor::ones({1})}, {"a", Tensor::ones({1})}}),
                        Contains("bad or repeated tensor name 'a'"));
    CHECK_FALSE(fs::exists(dir.file("x.safetensors")));
    model.save(dir.file("m.safetensors"));
    const std::string first = read_all(dir.file("m.safetensors"));
    model.save(dir.file("m.safetensors"));  // overwriting replaces it whole
    CHECK(read_all(dir.file("m.safetensors")) == first);
}

namespace {
int regular_files(const fs::path& dir) {
    int files = 0;
    for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
    return files;
}

// Model parameters large enough that a save takes a while (about 1 MB), so kills land in the
// middle of writes as well as between them.
nn::GPTConfig biggish(uint64_t seed) {
    return {.vocab_size = 64, .context_length = 32, .d_model = 96, .n_layer = 2, .n_head = 4, .seed = seed};
}
}  // namespace

TEST_CASE("a process killed with SIGKILL while saving never leaves a partial checkpoint", "[checkpoint][crash]") {
    TempDir dir;
    const std::string path = dir.file("model.safetensors");
    nn::GPT a(biggish(1)), b(biggish(2));
    const auto va = values(a), vb = values(b);
    a.save(path);
    std::mt19937 rng(12345);
    constexpr int kKills = 200;
    int saw_a = 0, saw_b = 0, torn = 0;
    std::set<std::string> leftovers;  // every temporary file seen after a kill
    for (int kill = 0; kill < kKills; ++kill) {
        const pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {  // child: overwrite the checkpoint with a and b in turn, forever
            for (uint64_t i = 0;; ++i) (i % 2 ? a : b).save(path);
        }
        std::this_thread::sleep_for(std::chrono::microseconds(500 + rng() % 20000));
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        REQUIRE(WIFSIGNALED(status));
        nn::GPT loaded(biggish(3));
        REQUIRE_NOTHROW(loaded.load(path));  // complete and loadable
        const auto v = values(loaded);
        REQUIRE((v == va || v == vb));      // exactly the old or the new checkpoint
        (v == va ? saw_a : saw_b)++;
        // A killed writer leaves its temporary file behind (never under the checkpoint's name);
        // a new one is a kill that landed in the middle of a write. The next writer's first
        // complete save removes it.
        for (const auto& e : fs::directory_iterator(dir.path)) {
            const std::string name = e.path().filename().string();
            CHECK((name == "model.safetensors" || name.rfind(".model.safetensors.tmp.", 0) == 0));
            torn += name != "model.safetensors" && leftovers.insert(name).second;
        }
    }
    CHECK(saw_a + saw_b == kKills);
    CHECK(torn > 0);  // the test did hit writes in progress
    a.save(path);     // removes what the last writers left
    CHECK(regular_files(dir.path) == 1);
    if (std::getenv("TG_TEST_VERBOSE"))
        std::printf("kills %d: old/new checkpoint %d/%d, mid-write %d\n", kKills, saw_a, saw_b, torn);
}

namespace {
// Saves `model` to `path` in a forked child that first calls restrict() (a file-size limit,
// dropped privileges). Returns the child's wait status: exit code 0 when the save threw an
// IOError naming the path and containing `expected`, 2 when it did not throw, 3 for another
// message, 4 when restrict() failed.
int failed_save_in_child(const nn::Module& model, const std::string& path, const std::function<bool()>& restrict,
                         const std::string& expected) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (!restrict()) _exit(4);
        try {
            model.save(path);
        } catch (const IOError& e) {
            const std::string msg = e.what();
            _exit(msg.find(expected) != std::string::npos && msg.find(path) != std::string::npos ? 0 : 3);
        }
        _exit(2);  // no error: wrong
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
}

}  // namespace

TEST_CASE("a save that runs out of space fails clearly and keeps the old checkpoint", "[checkpoint][crash]") {
    TempDir dir;
    const std::string path = dir.file("model.safetensors");
    nn::GPT a(biggish(1)), b(biggish(2));
    a.save(path);
    const std::string before = read_all(path);
    // A child whose file-size limit is 64 KiB: the write fails with EFBIG, as on a full disk.
    const int status = failed_save_in_child(b, path, [] {
        std::signal(SIGXFSZ, SIG_IGN);
        rlimit lim{64 * 1024, 64 * 1024};
        return setrlimit(RLIMIT_FSIZE, &lim) == 0;
    }, "write failed");
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(read_all(path) == before);
    CHECK(regular_files(dir.path) == 1);  // the temporary file was removed
}

TEST_CASE("a save into a read-only directory fails clearly and keeps the old checkpoint", "[checkpoint][crash]") {
    TempDir dir;
    const std::string path = dir.file("model.safetensors");
    nn::GPT a(biggish(1)), b(biggish(2));
    a.save(path);
    const std::string before = read_all(path);
    fs::permissions(dir.path, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                                  fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
    // Root writes anywhere, so under root the save runs in a child that has become 'nobody'.
    const int status = failed_save_in_child(b, path, [] {
        return ::geteuid() != 0 || (::setgid(65534) == 0 && ::setuid(65534) == 0);
    }, "Permission denied");
    fs::permissions(dir.path, fs::perms::owner_all);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(read_all(path) == before);
    CHECK(regular_files(dir.path) == 1);
}

namespace {
// Sets the process umask for a scope and restores the old one.
struct UmaskGuard {
    mode_t old;
    explicit UmaskGuard(mode_t mask) : old(::umask(mask)) {}
    ~UmaskGuard() { ::umask(old); }
};

unsigned mode_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}
}  // namespace

TEST_CASE("saved files get mode 0666 minus the umask, as torch.save gives", "[checkpoint]") {
    TempDir dir;
    nn::GPT model(tiny());
    const std::string path = dir.file("model.safetensors");
    {
        UmaskGuard mask(022);
        model.save(path);
        CHECK(mode_of(path) == 0644);
        nn::write_file_atomically(dir.file("metrics.csv"), "step,loss\n");  // run outputs too
        CHECK(mode_of(dir.file("metrics.csv")) == 0644);
    }
    {
        UmaskGuard mask(077);
        model.save(path);  // an overwritten file gets the default mode as well
        CHECK(mode_of(path) == 0600);
        model.save(dir.file("new.safetensors"));
        CHECK(mode_of(dir.file("new.safetensors")) == 0600);
    }
    {
        UmaskGuard mask(0);
        model.save(path);
        CHECK(mode_of(path) == 0666);
    }
}

TEST_CASE("a save removes the temporary files killed saves of that path left, and nothing else", "[checkpoint]") {
    TempDir dir;
    const std::vector<std::string> leftovers = {".model.safetensors.tmp.AbC123", ".model.safetensors.tmp.zzzzzz"};
    const std::vector<std::string> unrelated = {".other.safetensors.tmp.AbC123", "model.safetensors.tmp.AbC123",
                                                ".model.safetensors.tmp.toolong1", ".model.safetensors.tmp.ab-12_"};
    for (const auto& name : leftovers) std::ofstream(dir.file(name)) << "torn";
    for (const auto& name : unrelated) std::ofstream(dir.file(name)) << "keep";
    fs::create_directory(dir.file(".model.safetensors.tmp.dir123"));  // not a file: kept
    REQUIRE(regular_files(dir.path) == 6);

    nn::GPT model(tiny());
    model.save(dir.file("model.safetensors"));
    for (const auto& name : leftovers) CHECK_FALSE(fs::exists(dir.file(name)));
    for (const auto& name : unrelated) CHECK(read_all(dir.file(name)) == "keep");
    CHECK(fs::is_directory(dir.file(".model.safetensors.tmp.dir123")));
    CHECK(regular_files(dir.path) == 1 + static_cast<int>(unrelated.size()));
}
