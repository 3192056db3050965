// The byte-level BPE tokenizer: token ids equal to GPT-2's reference encoder on ~320 KB of
// varied text (tests/data/gpt2_bpe, made by tests/data/make_bpe_reference.js), round trips of
// arbitrary bytes, training, save/load, and bad files.
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "helpers.hpp"

using namespace tg;
using tg::test::TempDir;

namespace {

const std::string kGpt2 = std::string(TG_TEST_DATA_DIR) + "/gpt2_bpe";

const data::BPETokenizer& gpt2() {
    static const data::BPETokenizer tok = data::BPETokenizer::load(kGpt2 + "/encoder.json", kGpt2 + "/vocab.bpe");
    return tok;
}

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void write(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary);
    f << bytes;
}

std::string random_bytes(std::mt19937_64& rng, std::size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng() & 0xFF);
    return s;
}

}  // namespace

TEST_CASE("BPETokenizer: GPT-2's vocabulary gives the reference encoder's ids on every segment") {
    const auto& tok = gpt2();
    CHECK(tok.vocab_size() == 50257);
    const nlohmann::json ref = nlohmann::json::parse(slurp(kGpt2 + "/reference.json"));
    const auto& segments = ref.at("segments");
    REQUIRE(segments.size() > 50);
    std::size_t bytes = 0, tokens = 0;
    for (const auto& seg : segments) {
        const std::string text = seg.at("text").get<std::string>();
        const std::vector<int64_t> want = seg.at("ids").get<std::vector<int64_t>>();
        INFO("segment " << seg.at("name").get<std::string>());
        const std::vector<int64_t> got = tok.encode(text);
        if (got != want) {
            std::size_t at = 0;
            while (at < got.size() && at < want.size() && got[at] == want[at]) ++at;
            FAIL_CHECK("ids differ first at token " << at << " of " << want.size()
                       << " (got " << (at < got.size() ? got[at] : -1) << ", want "
                       << (at < want.size() ? want[at] : -1) << ")");
        }
        CHECK(tok.decode(want) == text);
        bytes += text.size();
        tokens += want.size();
    }
    CHECK(bytes > 300000);
    CHECK(tokens > 100000);
}

TEST_CASE("BPETokenizer: familiar GPT-2 ids") {
    const auto& tok = gpt2();
    // "Hello world" is [15496, 995] in GPT-2; a leading space joins the word that follows.
    CHECK(tok.encode("Hello world") == std::vector<int64_t>{15496, 995});
    CHECK(tok.encode(" Hello") == std::vector<int64_t>{18435});
    CHECK(tok.encode("") == std::vector<int64_t>{});
    CHECK(tok.decode({50256}) == "<|endoftext|>");  // the special token is plain text here
    CHECK(tok.encode("<|endoftext|>") != std::vector<int64_t>{50256});
}

TEST_CASE("BPETokenizer: decode(encode(s)) == s for any bytes, invalid UTF-8 included") {
    const auto& tok = gpt2();
    std::mt19937_64 rng(7);
    for (int trial = 0; trial < 200; ++trial) {
        const std::string s = random_bytes(rng, 1 + rng() % 300);
        const auto ids = tok.encode(s);
        for (int64_t id : ids) REQUIRE((id >= 0 && id < tok.vocab_size()));
        REQUIRE(tok.decode(ids) == s);
    }
    // Truncated and overlong sequences, lone continuation bytes, surrogates encoded in UTF-8.
    for (const std::string s : {std::string("caf\xC3"), std::string("\x80\x80 abc"), std::string("\xC0\xAF"),
                                std::string("\xED\xA0\x80 x"), std::string("ok \xF4\x90\x80\x80!"),
                                std::string("a\0b", 3)}) {
        const auto ids = tok.encode(s);
        CHECK(tok.decode(ids) == s);
    }
    // An invalid byte is a token of its own: it does not glue to its neighbours.
    const auto ids = tok.encode("ab\xFF" "cd");
    REQUIRE(ids.size() == 3);
    CHECK(tok.decode({ids[1]}) == "\xFF");
}

TEST_CASE("BPETokenizer::decode names an id outside the vocabulary") {
    const auto& tok = gpt2();
    REQUIRE_THROWS_AS(tok.decode({15496, 50257}), ValueError);
    REQUIRE_THROWS_WITH(tok.decode({15496, 50257}),
                        Catch::Contains("id 50257 at position 1 is outside the vocabulary [0, 50257)"));
    REQUIRE_THROWS_WITH(tok.decode({-1}), Catch::Contains("id -1 at position 0"));
}

TEST_CASE("BPETokenizer::train learns the frequent pairs first and round-trips") {
    const std::string corpus =
        "low low low low low lower lower newest newest newest newest newest newest widest widest widest ";
    const auto tok = data::BPETokenizer::train(corpus, 256 + 6);
    CHECK(tok.vocab_size() == 262);
    // Pairs are counted inside the pieces ("low", " low" x4, " lower" x2, " newest" x6,
    // " widest" x3, " "), weighted by frequency: "es" and "st" 9 each, "we" 8, "lo" and "ow" 7.
    // The tie goes to the pair whose strings sort first, so "es" is merged first, then
    // ("es", "t") with 9 (the merge took every "st"); "we" is left with 2 (newest's e went to
    // "es"), so "lo" comes third, before its equal "ow".
    const auto ids = tok.encode(" newest");
    std::vector<std::string> pieces;
    for (int64_t id : ids) pieces.push_back(tok.decode({id}));
    CHECK(std::find(pieces.begin(), pieces.end(), "est") != pieces.end());
    CHECK(tok.decode({256}) == "es");
    CHECK(tok.decode({257}) == "est");
    CHECK(tok.decode({258}) == "lo");
    // Every string round-trips, seen in training or not.
    for (const std::string s : {corpus, std::string("brand new words, 123!"), std::string("\xFF\xFE")})
        CHECK(tok.decode(tok.encode(s)) == s);
    // Ids 0-255 are the bytes in GPT-2's order: '!' is 0, 'A' is 32, ' ' (0x20) is 220.
    CHECK(tok.decode({0}) == "!");
    CHECK(tok.decode({32}) == "A");
    CHECK(tok.decode({220}) == " ");
    CHECK(tok.encode("A") == gpt2().encode("A"));
}

TEST_CASE("BPETokenizer::train stops when no pair occurs twice, and checks vocab_size") {
    const auto tiny = data::BPETokenizer::train("abcd", 1000);
    CHECK(tiny.vocab_size() == 256);
    const auto some = data::BPETokenizer::train("aaaa aaaa", 1000);
    CHECK(some.vocab_size() > 256);
    CHECK(some.vocab_size() < 1000);
    CHECK(some.encode("aaaa").size() == 1);
    REQUIRE_THROWS_AS(data::BPETokenizer::train("abc", 100), ValueError);
    REQUIRE_THROWS_WITH(data::BPETokenizer::train("abc", 100), Catch::Contains("vocab_size must be at least 256"));
}

TEST_CASE("BPETokenizer: a trained vocabulary encodes its corpus more compactly than bytes and survives save/load") {
    TempDir dir;
    // English prose: the licence texts of the GPT-2 reference.
    std::string corpus;
    const nlohmann::json ref = nlohmann::json::parse(slurp(kGpt2 + "/reference.json"));
    for (const auto& seg : ref.at("segments"))
        if (seg.at("name").get<std::string>().rfind("license/", 0) == 0) corpus += seg.at("text").get<std::string>();
    REQUIRE(corpus.size() > 100000);
    const auto tok = data::BPETokenizer::train(corpus, 1000);
    CHECK(tok.vocab_size() == 1000);
    const auto ids = tok.encode(corpus);
    // A thousand tokens learnt on the text cover ~3 bytes each; GPT-2's 50257 do ~4.
    CHECK(double(corpus.size()) / double(ids.size()) > 2.5);
    CHECK(tok.decode(ids) == corpus);
    const std::vector<std::string> words = {"the", "tape", "gradient", "résumé", "日本", "🙂", "1234", "don't"};
    const std::string enc = dir.path.string() + "/encoder.json", bpe = dir.path.string() + "/vocab.bpe";
    tok.save(enc, bpe);
    CHECK(slurp(bpe).rfind("#version: 0.2\n", 0) == 0);
    const auto back = data::BPETokenizer::load(enc, bpe);
    CHECK(back.vocab_size() == 1000);
    CHECK(back.encode(corpus) == ids);
    std::mt19937_64 r2(11);
    for (int t = 0; t < 50; ++t) {
        const std::string s = random_bytes(r2, 64) + words[r2() % words.size()];
        CHECK(back.encode(s) == tok.encode(s));
    }
    // A copy is independent of the original and encodes the same.
    data::BPETokenizer copy = back;
    CHECK(copy.encode("the tape") == back.encode("the tape"));

    // GPT-2's own files survive a save/load round trip too.
    gpt2().save(enc, bpe);
    const auto g = data::BPETokenizer::load(enc, bpe);
    CHECK(g.vocab_size() == 50257);
    CHECK(g.encode("The quick brown fox jumps over the lazy dog.") ==
          gpt2().encode("The quick brown fox jumps over the lazy dog."));
}

TEST_CASE("BPETokenizer::load names the file and what is wrong with it") {
    TempDir dir;
    const std::string enc = dir.path.string() + "/encoder.json", bpe = dir.path.string() + "/vocab.bpe";
    const auto tok = data::BPETokenizer::train("abab abab abab", 258);
    tok.save(enc, bpe);
    const std::string good_enc = slurp(enc), good_bpe = slurp(bpe);

    REQUIRE_THROWS_AS(data::BPETokenizer::load(dir.path.string() + "/missing.json", bpe), IOError);
    REQUIRE_THROWS_WITH(data::BPETokenizer::load(dir.path.string() + "/missing.json", bpe),
                        Catch::Contains("missing.json (encoder.json)") && Catch::Contains("No such file"));

    write(enc, "[1, 2, 3]");
    REQUIRE_THROWS_WITH(data::BPETokenizer::load(enc, bpe), Catch::Contains("is not a JSON object of token -> id"));
    write(enc, "{\"a\": 0}");
    REQUIRE_THROWS_WITH(data::BPETokenizer::load(enc, bpe), Catch::Contains("holds 1 tokens"));

    nlohmann::json j = nlohmann::json::parse(good_enc);
    j["ab"] = 999;
    write(enc, j.dump());
    REQUIRE_THROWS_WITH(data::BPETokenizer::load(enc, bpe), Catch::Contains("has id 999, outside [0, 258)"));
    j = nlohmann::json::parse(good_enc);
    j["ab"] = 0;
    write(enc, j.dump());
    REQUIRE_THROWS_WITH(data::BPETokenizer::load(enc, bpe), Catch::Contains("id 0 is given to two tokens"));
    j = nlohmann::json::parse(good_enc);
    const std::string last = tok.decode({257});
    j.erase(last);
    j["x y"] = 257;  // ' ' is not in GPT-2's byte alphabet (it is spelled U+0120)
    write(enc, j.dump());
    REQUIRE_THROWS_WITH(data::BPETokenizer::load(enc, bpe), Catch::Contains("outside GPT-2's byte alphabet"));
    j = nlohmann::json::parse(good_enc);
    j["ab"] = "257";
    write(enc, j.dump());
    REQUIRE_THROWS_WITH(data::BPETokenizer::load(enc, bpe), Catch::Contains("is not an integer"));

    write(enc, good_enc);
    write(bpe, good_bpe + "a b c\n");
    REQUIRE_THROWS_WITH(data::BPETokenizer::load(enc, bpe),
                        Catch::Contains("vocab.bpe line 4: expected two tokens separated by one space"));
    write(bpe, good_bpe + "a zz\n");
    REQUIRE_THROWS_WITH(data::BPETokenizer::load(enc, bpe), Catch::Contains("line 4: token \"zz\" is not in"));
    write(bpe, good_bpe + "b a\n");
    REQUIRE_THROWS_WITH(data::BPETokenizer::load(enc, bpe),
                        Catch::Contains("line 4: the merge \"b a\" gives \"ba\", which is not in"));
    write(bpe, good_bpe);
    CHECK(data::BPETokenizer::load(enc, bpe).encode("abab") == tok.encode("abab"));
}

TEST_CASE("BPETokenizer::save writes whole files or none") {
    TempDir dir;
    const auto tok = data::BPETokenizer::train("abab abab abab", 258);
    REQUIRE_THROWS_AS(tok.save(dir.path.string() + "/no/such/dir/encoder.json", dir.path.string() + "/vocab.bpe"), IOError);
    REQUIRE_THROWS_WITH(tok.save(dir.path.string() + "/no/such/dir/encoder.json", dir.path.string() + "/vocab.bpe"),
                        Catch::Contains("BPETokenizer::save") && Catch::Contains("no/such/dir/encoder.json"));
}
