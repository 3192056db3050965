#pragma once
/// \file
/// The byte-level BPE tokenizer (BPETokenizer). Part of tapegrad::data.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tg::data {

/// A byte-level BPE tokenizer in the manner of GPT-2: text is split by GPT-2's pre-tokenisation
/// pattern (contractions, runs of letters, of digits, of other symbols, and whitespace, with
/// Unicode letter and number classes), each piece's UTF-8 bytes are mapped to printable
/// characters (GPT-2's byte-to-unicode table), and merges are applied by rank. Reads and writes
/// GPT-2's files: encoder.json (token string -> id) and vocab.bpe (one merge per line, by rank).
/// Made by train() or load(); copies are independent.
class BPETokenizer {
public:
    /// Learns merges on `corpus` until the vocabulary holds vocab_size tokens: the 256 byte
    /// tokens first (ids 0-255 in GPT-2's byte order), then one token per merge, the most
    /// frequent adjacent pair within a pre-tokenised piece each time (ties: the pair whose
    /// strings sort first). Needs 256 <= vocab_size; stops early, with a smaller vocabulary,
    /// when no pair occurs twice.
    static BPETokenizer train(std::string_view corpus, int64_t vocab_size);
    /// Reads GPT-2's encoder.json and vocab.bpe (the files of the original release, or of
    /// save()). Errors name the file and what is wrong with it.
    static BPETokenizer load(const std::string& encoder_json, const std::string& vocab_bpe);
    /// Writes both files (each to a temporary file renamed into place).
    void save(const std::string& encoder_json, const std::string& vocab_bpe) const;

    /// Token ids of `text`, any bytes (invalid UTF-8 is split into single bytes).
    std::vector<int64_t> encode(std::string_view text) const;
    /// The bytes the ids stand for: decode(encode(s)) == s for every s. An id outside
    /// [0, vocab_size()) is a ValueError naming it.
    std::string decode(const std::vector<int64_t>& ids) const;
    /// The number of tokens; ids run from 0 to vocab_size() - 1.
    int64_t vocab_size() const;

    /// Moves the vocabulary and merges out of the other tokenizer, which is left empty: only
    /// assigning to it or destroying it is valid afterwards.
    BPETokenizer(BPETokenizer&&) noexcept;
    /// Move assignment, as the move constructor.
    BPETokenizer& operator=(BPETokenizer&&) noexcept;
    /// Copies the vocabulary and merges (a deep copy).
    BPETokenizer(const BPETokenizer&);
    /// Copy assignment (a deep copy).
    BPETokenizer& operator=(const BPETokenizer&);
    ~BPETokenizer();

private:
    struct Impl;
    explicit BPETokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace tg::data
