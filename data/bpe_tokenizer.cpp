#include "data/bpe_tokenizer.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <fmt/format.h>
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <queue>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "core/atomic_file.hpp"
#include "core/check.hpp"

namespace tg::data {

namespace {

// GPT-2's pre-tokenisation: contractions, an optional space and a run of letters, of digits or
// of other symbols, then whitespace (a run not followed by a non-space keeps its last space for
// the next word). \s is spelled out as JavaScript's set, the one the reference encoder
// (gpt-3-encoder) uses; Python's regex module, which GPT-2 itself used, also counts U+0085 and
// not U+FEFF. PCRE2 supplies the Unicode letter and number classes.
#define TG_WS "\\t\\n\\x{0B}\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}"
constexpr const char* kPattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" TG_WS "\\p{L}\\p{N}]+|[" TG_WS "]+(?![^" TG_WS "])|[" TG_WS "]+";
#undef TG_WS

// GPT-2's bytes_to_unicode: the printable bytes ('!'-'~', U+00A1-U+00AC, U+00AE-U+00FF) stand
// for themselves, the other 68 for U+0100 onwards in byte order. Ids 0-255 follow the same
// order, so a trained vocabulary's byte tokens have the ids GPT-2's have.
struct ByteTable {
    std::array<char32_t, 256> to_char{};   // byte -> code point
    std::array<int32_t, 256> order{};      // byte -> its place (GPT-2's id of the byte token)
    std::array<uint8_t, 256> by_order{};   // place -> byte
    std::unordered_map<char32_t, uint8_t> to_byte;
    ByteTable() {
        int place = 0, extra = 0;
        auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE); };
        for (int b = 0; b < 256; ++b)
            if (printable(b)) to_char[b] = static_cast<char32_t>(b), order[b] = place, by_order[place++] = uint8_t(b);
        for (int b = 0; b < 256; ++b)
            if (!printable(b)) to_char[b] = static_cast<char32_t>(256 + extra++), order[b] = place, by_order[place++] = uint8_t(b);
        for (int b = 0; b < 256; ++b) to_byte[to_char[b]] = static_cast<uint8_t>(b);
    }
};

const ByteTable& byte_table() {
    static const ByteTable table;
    return table;
}

void append_utf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {  // the table's characters are below U+0144
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    }
}

// A token's bytes as GPT-2's files spell them.
std::string to_file_form(std::string_view bytes) {
    std::string out;
    for (unsigned char b : bytes) append_utf8(out, byte_table().to_char[b]);
    return out;
}

// The inverse; nullopt when the text is not UTF-8 or holds a character outside the table.
std::optional<std::string> from_file_form(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size();) {
        const auto c0 = static_cast<unsigned char>(text[i]);
        char32_t c = 0;
        int len = 0;
        if (c0 < 0x80) c = c0, len = 1;
        else if ((c0 & 0xE0) == 0xC0) c = c0 & 0x1F, len = 2;
        else if ((c0 & 0xF0) == 0xE0) c = c0 & 0x0F, len = 3;
        else return std::nullopt;
        if (i + len > text.size()) return std::nullopt;
        for (int k = 1; k < len; ++k) {
            const auto ck = static_cast<unsigned char>(text[i + k]);
            if ((ck & 0xC0) != 0x80) return std::nullopt;
            c = (c << 6) | (ck & 0x3F);
        }
        const auto it = byte_table().to_byte.find(c);
        if (it == byte_table().to_byte.end()) return std::nullopt;
        out += static_cast<char>(it->second);
        i += len;
    }
    return out;
}

uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

struct Merge {
    int32_t rank;
    int32_t id;  // the merged token
};

}  // namespace

struct BPETokenizer::Impl {
    std::vector<std::string> tokens;                      // id -> bytes
    std::unordered_map<std::string, int32_t> ids;         // bytes -> id
    std::vector<std::pair<int32_t, int32_t>> merges;      // by rank
    std::unordered_map<uint64_t, Merge> merge_of;         // (left, right) -> rank and result
    std::array<int32_t, 256> byte_id{};                   // byte -> its single-byte token
    pcre2_code* pattern = nullptr;
    bool jit = false;

    Impl() {
        int err = 0;
        PCRE2_SIZE offset = 0;
        pattern = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED,
                                PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &offset, nullptr);
        if (pattern == nullptr) {
            std::array<PCRE2_UCHAR, 256> msg{};
            pcre2_get_error_message(err, msg.data(), msg.size());
            throw Error(fmt::format("BPETokenizer: PCRE2 rejected the pre-tokenisation pattern at offset {}: {}",
                                    offset, reinterpret_cast<const char*>(msg.data())));
        }
        jit = pcre2_jit_compile(pattern, PCRE2_JIT_COMPLETE) == 0;
    }
    Impl(const Impl& o)
        : tokens(o.tokens), ids(o.ids), merges(o.merges), merge_of(o.merge_of), byte_id(o.byte_id),
          pattern(pcre2_code_copy_with_tables(o.pattern)) {
        TG_CHECK(pattern != nullptr, Error, "BPETokenizer: out of memory copying the pattern");
        jit = pcre2_jit_compile(pattern, PCRE2_JIT_COMPLETE) == 0;
    }
    Impl& operator=(const Impl&) = delete;
    ~Impl() { pcre2_code_free(pattern); }

    int32_t add_token(std::string bytes) {
        const auto id = static_cast<int32_t>(tokens.size());
        ids.emplace(bytes, id);
        tokens.push_back(std::move(bytes));
        return id;
    }

    // Calls piece(begin, end) for each pre-tokenised piece of text, in order. Bytes that are not
    // UTF-8 match nothing in the pattern; each becomes a piece of its own.
    template <class F>
    void split(std::string_view text, F&& piece) const {
        pcre2_match_data* md = pcre2_match_data_create_from_pattern(pattern, nullptr);
        TG_CHECK(md != nullptr, Error, "BPETokenizer: out of memory for PCRE2 match data");
        const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
        std::size_t at = 0;
        try {
            while (at < text.size()) {
                int rc = jit ? pcre2_jit_match(pattern, subject, text.size(), at, 0, md, nullptr)
                             : pcre2_match(pattern, subject, text.size(), at, 0, md, nullptr);
                if (rc == PCRE2_ERROR_JIT_STACKLIMIT) rc = pcre2_match(pattern, subject, text.size(), at, 0, md, nullptr);
                std::size_t begin = text.size(), end = text.size();
                if (rc > 0) {
                    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
                    begin = ov[0], end = ov[1];
                } else if (rc != PCRE2_ERROR_NOMATCH) {
                    std::array<PCRE2_UCHAR, 256> msg{};
                    pcre2_get_error_message(rc, msg.data(), msg.size());
                    throw Error(fmt::format("BPETokenizer: matching the pattern at byte {} failed: {}", at,
                                            reinterpret_cast<const char*>(msg.data())));
                }
                for (; at < begin; ++at) piece(at, at + 1);
                if (begin == end) break;  // no match: the rest was emitted byte by byte
                piece(begin, end);
                at = end;
            }
        } catch (...) {
            pcre2_match_data_free(md);
            throw;
        }
        pcre2_match_data_free(md);
    }

    // Applies the merges to one piece, as GPT-2's bpe() does: repeatedly the pair of lowest rank
    // anywhere in the piece, every occurrence of it left to right, until no pair has a rank.
    // A heap of (rank, position) finds each round's occurrences in O(log n); pairs a merge
    // creates wait in `fresh` until the round ends, so a round sees only the pairs that were
    // there when it began, as in GPT-2.
    void merge_piece(std::string_view piece, std::vector<int64_t>& out) const {
        const auto n = static_cast<int32_t>(piece.size());
        if (n == 1) {
            out.push_back(byte_id[static_cast<unsigned char>(piece[0])]);
            return;
        }
        struct Entry {
            int32_t rank, pos, left, right;
            bool operator>(const Entry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
        };
        std::vector<int32_t> tok(n), next(n), prev(n);
        for (int32_t i = 0; i < n; ++i) {
            tok[i] = byte_id[static_cast<unsigned char>(piece[i])];
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap;
        std::vector<Entry> fresh;
        auto consider = [&](int32_t pos, std::vector<Entry>& into) {
            if (pos < 0 || next[pos] < 0) return;
            const auto it = merge_of.find(pair_key(tok[pos], tok[next[pos]]));
            if (it != merge_of.end()) into.push_back({it->second.rank, pos, tok[pos], tok[next[pos]]});
        };
        for (int32_t i = 0; i + 1 < n; ++i) consider(i, fresh);
        int32_t round = -1;
        while (true) {
            if (heap.empty() || heap.top().rank != round) {
                for (const Entry& e : fresh) heap.push(e);
                fresh.clear();
                if (heap.empty()) break;
                round = heap.top().rank;
            }
            const Entry e = heap.top();
            heap.pop();
            const int32_t right = next[e.pos];
            if (tok[e.pos] != e.left || right < 0 || tok[right] != e.right) continue;  // stale
            tok[e.pos] = merge_of.at(pair_key(e.left, e.right)).id;
            tok[right] = -1;
            next[e.pos] = next[right];
            if (next[right] >= 0) prev[next[right]] = e.pos;
            consider(prev[e.pos], fresh);
            consider(e.pos, fresh);
        }
        for (int32_t i = 0; i >= 0; i = next[i]) out.push_back(tok[i]);
    }
};

BPETokenizer::BPETokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BPETokenizer::BPETokenizer(BPETokenizer&&) noexcept = default;
BPETokenizer& BPETokenizer::operator=(BPETokenizer&&) noexcept = default;
BPETokenizer::BPETokenizer(const BPETokenizer& o) : impl_(std::make_unique<Impl>(*o.impl_)) {}
BPETokenizer& BPETokenizer::operator=(const BPETokenizer& o) {
    if (this != &o) impl_ = std::make_unique<Impl>(*o.impl_);
    return *this;
}
BPETokenizer::~BPETokenizer() = default;

int64_t BPETokenizer::vocab_size() const { return static_cast<int64_t>(impl_->tokens.size()); }

std::vector<int64_t> BPETokenizer::encode(std::string_view text) const {
    std::vector<int64_t> out;
    out.reserve(text.size() / 3);
    // Pieces repeat (words, indentation): each distinct piece is merged once per call, and
    // later copies are taken from where its ids first went in `out`.
    std::unordered_map<std::string_view, std::pair<std::size_t, std::size_t>> seen;
    impl_->split(text, [&](std::size_t begin, std::size_t end) {
        const std::string_view piece = text.substr(begin, end - begin);
        if (const auto it = seen.find(piece); it != seen.end()) {
            const auto [at, count] = it->second;
            for (std::size_t k = 0; k < count; ++k) out.push_back(out[at + k]);
            return;
        }
        const std::size_t at = out.size();
        impl_->merge_piece(piece, out);
        seen.emplace(piece, std::pair{at, out.size() - at});
    });
    return out;
}

std::string BPETokenizer::decode(const std::vector<int64_t>& ids) const {
    std::string out;
    const auto v = vocab_size();
    for (std::size_t i = 0; i < ids.size(); ++i) {
        TG_CHECK(ids[i] >= 0 && ids[i] < v, ValueError,
                 "BPETokenizer::decode: id {} at position {} is outside the vocabulary [0, {})", ids[i], i, v);
        out += impl_->tokens[static_cast<std::size_t>(ids[i])];
    }
    return out;
}

/// Byte-level BPE training (Sennrich et al. 2016 on bytes, as GPT-2): the corpus is split into
/// pieces as encode() splits it, equal pieces are counted once with their frequency, and each
/// step merges the most frequent adjacent pair (frequency-weighted) in every piece that holds
/// it. Pair counts are kept up to date incrementally: a merge re-counts only the pieces that
/// held the pair, and a heap with lazy deletion finds the next best pair.
BPETokenizer BPETokenizer::train(std::string_view corpus, int64_t vocab_size) {
    TG_CHECK(vocab_size >= 256, ValueError,
             "BPETokenizer::train: vocab_size must be at least 256 (one token per byte), got {}", vocab_size);
    TG_CHECK(vocab_size <= (int64_t{1} << 30), ValueError, "BPETokenizer::train: vocab_size {} is too large",
             vocab_size);
    auto impl = std::make_unique<Impl>();
    const ByteTable& table = byte_table();
    for (int place = 0; place < 256; ++place) {
        const uint8_t b = table.by_order[place];
        impl->byte_id[b] = impl->add_token(std::string(1, static_cast<char>(b)));
    }

    struct Word {
        std::vector<int32_t> ids;
        int64_t freq;
    };
    std::vector<Word> words;
    {
        std::unordered_map<std::string_view, int32_t> index;
        impl->split(corpus, [&](std::size_t begin, std::size_t end) {
            const std::string_view piece = corpus.substr(begin, end - begin);
            auto [it, added] = index.emplace(piece, static_cast<int32_t>(words.size()));
            if (added) {
                Word w{{}, 0};
                for (unsigned char c : piece) w.ids.push_back(impl->byte_id[c]);
                words.push_back(std::move(w));
            }
            ++words[static_cast<std::size_t>(it->second)].freq;
        });
    }

    std::unordered_map<uint64_t, int64_t> count;
    std::unordered_map<uint64_t, std::vector<int32_t>> where;  // may hold stale or repeated entries
    for (std::size_t w = 0; w < words.size(); ++w)
        for (std::size_t i = 0; i + 1 < words[w].ids.size(); ++i) {
            const uint64_t k = pair_key(words[w].ids[i], words[w].ids[i + 1]);
            count[k] += words[w].freq;
            auto& list = where[k];
            if (list.empty() || list.back() != static_cast<int32_t>(w)) list.push_back(static_cast<int32_t>(w));
        }

    struct Candidate {
        int64_t count;
        uint64_t key;
    };
    const auto& tokens = impl->tokens;
    // The heap's top is the most frequent pair; among equals, the one whose strings sort first.
    auto worse = [&tokens](const Candidate& a, const Candidate& b) {
        if (a.count != b.count) return a.count < b.count;
        const auto& al = tokens[a.key >> 32];
        const auto& bl = tokens[b.key >> 32];
        if (al != bl) return al > bl;
        return tokens[a.key & 0xFFFFFFFFu] > tokens[b.key & 0xFFFFFFFFu];
    };
    std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> heap(worse);
    for (const auto& [k, c] : count) heap.push({c, k});

    std::vector<int32_t> stamp(words.size(), -1);
    std::unordered_set<uint64_t> changed;
    while (static_cast<int64_t>(impl->tokens.size()) < vocab_size && !heap.empty()) {
        const Candidate best = heap.top();
        heap.pop();
        const auto it = count.find(best.key);
        if (it == count.end() || it->second != best.count) continue;  // stale
        if (best.count < 2) break;
        const auto left = static_cast<int32_t>(best.key >> 32), right = static_cast<int32_t>(best.key & 0xFFFFFFFFu);
        const std::string merged = impl->tokens[left] + impl->tokens[right];
        const auto existing = impl->ids.find(merged);
        // Two merges can spell the same bytes ((ab, c) and (a, bc)): they share one token.
        const int32_t id = existing != impl->ids.end() ? existing->second : impl->add_token(merged);
        const auto rank = static_cast<int32_t>(impl->merges.size());
        impl->merges.emplace_back(left, right);
        impl->merge_of.emplace(best.key, Merge{rank, id});

        changed.clear();
        const std::vector<int32_t> holders = std::move(where[best.key]);
        where.erase(best.key);
        for (const int32_t w : holders) {
            if (stamp[w] == rank) continue;
            stamp[w] = rank;
            Word& word = words[static_cast<std::size_t>(w)];
            auto& ids = word.ids;
            for (std::size_t i = 0; i + 1 < ids.size(); ++i) {
                const uint64_t k = pair_key(ids[i], ids[i + 1]);
                count[k] -= word.freq;
                changed.insert(k);
            }
            std::size_t out = 0;
            for (std::size_t i = 0; i < ids.size(); ++i) {
                if (i + 1 < ids.size() && ids[i] == left && ids[i + 1] == right) {
                    ids[out++] = id;
                    ++i;
                } else {
                    ids[out++] = ids[i];
                }
            }
            ids.resize(out);
            for (std::size_t i = 0; i + 1 < ids.size(); ++i) {
                const uint64_t k = pair_key(ids[i], ids[i + 1]);
                count[k] += word.freq;
                changed.insert(k);
                auto& list = where[k];
                if (list.empty() || list.back() != w) list.push_back(w);
            }
        }
        for (const uint64_t k : changed) {
            const auto c = count.find(k);
            if (c == count.end()) continue;
            if (c->second <= 0) {
                count.erase(c);
                continue;
            }
            if (k != best.key) heap.push({c->second, k});
        }
        count.erase(best.key);
    }
    return BPETokenizer(std::move(impl));
}

namespace {

std::string read_text(const std::string& path, const char* what) {
    std::ifstream f(path, std::ios::binary);
    TG_CHECK(f, IOError, "BPETokenizer::load: cannot open {} ({}): {}", path, what, std::strerror(errno));
    std::ostringstream ss;
    ss << f.rdbuf();
    TG_CHECK(!f.bad(), IOError, "BPETokenizer::load: reading {} failed", path);
    return ss.str();
}

}  // namespace

BPETokenizer BPETokenizer::load(const std::string& encoder_json, const std::string& vocab_bpe) {
    auto impl = std::make_unique<Impl>();
    const std::string json_text = read_text(encoder_json, "encoder.json");
    const nlohmann::json enc = nlohmann::json::parse(json_text, nullptr, false);
    TG_CHECK(!enc.is_discarded() && enc.is_object(), IOError,
             "BPETokenizer::load: {} is not a JSON object of token -> id (GPT-2's encoder.json)", encoder_json);
    const std::size_t n = enc.size();
    TG_CHECK(n >= 256, IOError, "BPETokenizer::load: {} holds {} tokens; a byte-level vocabulary has at least 256",
             encoder_json, n);
    impl->tokens.assign(n, {});
    std::vector<bool> have(n, false);
    for (const auto& [key, value] : enc.items()) {
        TG_CHECK(value.is_number_integer(), IOError, "BPETokenizer::load: {}: the id of token \"{}\" is not an integer",
                 encoder_json, key);
        const auto id = value.get<int64_t>();
        TG_CHECK(id >= 0 && id < static_cast<int64_t>(n), IOError,
                 "BPETokenizer::load: {}: token \"{}\" has id {}, outside [0, {}) (ids must be 0 to the count - 1)",
                 encoder_json, key, id, n);
        TG_CHECK(!have[id], IOError, "BPETokenizer::load: {}: id {} is given to two tokens", encoder_json, id);
        const auto bytes = from_file_form(key);
        TG_CHECK(bytes.has_value(), IOError,
                 "BPETokenizer::load: {}: token \"{}\" (id {}) has a character outside GPT-2's byte alphabet",
                 encoder_json, key, id);
        have[id] = true;
        impl->tokens[id] = *bytes;
        impl->ids.emplace(*bytes, static_cast<int32_t>(id));
    }
    for (int b = 0; b < 256; ++b) {
        const auto it = impl->ids.find(std::string(1, static_cast<char>(b)));
        TG_CHECK(it != impl->ids.end(), IOError, "BPETokenizer::load: {} has no token for byte 0x{:02x} (\"{}\")",
                 encoder_json, b, to_file_form(std::string(1, static_cast<char>(b))));
        impl->byte_id[b] = it->second;
    }

    const std::string bpe_text = read_text(vocab_bpe, "vocab.bpe");
    std::size_t line_no = 0;
    for (std::size_t at = 0; at < bpe_text.size();) {
        std::size_t end = bpe_text.find('\n', at);
        if (end == std::string::npos) end = bpe_text.size();
        std::string_view line(bpe_text.data() + at, end - at);
        at = end + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
        const std::size_t space = line.find(' ');
        TG_CHECK(space != std::string_view::npos && space > 0 && space + 1 < line.size() &&
                     line.find(' ', space + 1) == std::string_view::npos,
                 IOError, "BPETokenizer::load: {} line {}: expected two tokens separated by one space, got \"{}\"",
                 vocab_bpe, line_no, line);
        int32_t pair[2];
        std::string merged;
        for (int side = 0; side < 2; ++side) {
            const std::string_view text = side == 0 ? line.substr(0, space) : line.substr(space + 1);
            const auto bytes = from_file_form(text);
            const auto it = bytes ? impl->ids.find(*bytes) : impl->ids.end();
            TG_CHECK(it != impl->ids.end(), IOError, "BPETokenizer::load: {} line {}: token \"{}\" is not in {}",
                     vocab_bpe, line_no, text, encoder_json);
            pair[side] = it->second;
            merged += *bytes;
        }
        const auto it = impl->ids.find(merged);
        TG_CHECK(it != impl->ids.end(), IOError,
                 "BPETokenizer::load: {} line {}: the merge \"{}\" gives \"{}\", which is not in {}", vocab_bpe,
                 line_no, line, to_file_form(merged), encoder_json);
        const auto rank = static_cast<int32_t>(impl->merges.size());
        if (impl->merge_of.emplace(pair_key(pair[0], pair[1]), Merge{rank, it->second}).second)
            impl->merges.emplace_back(pair[0], pair[1]);
    }
    return BPETokenizer(std::move(impl));
}

void BPETokenizer::save(const std::string& encoder_json, const std::string& vocab_bpe) const {
    nlohmann::ordered_json enc = nlohmann::ordered_json::object();
    for (std::size_t id = 0; id < impl_->tokens.size(); ++id) enc[to_file_form(impl_->tokens[id])] = id;
    std::string bpe = "#version: 0.2\n";
    for (const auto& [a, b] : impl_->merges) {
        bpe += to_file_form(impl_->tokens[a]);
        bpe += ' ';
        bpe += to_file_form(impl_->tokens[b]);
        bpe += '\n';
    }
    write_file_atomically(encoder_json, {enc.dump()}, "BPETokenizer::save");
    write_file_atomically(vocab_bpe, {bpe}, "BPETokenizer::save");
}

}  // namespace tg::data
