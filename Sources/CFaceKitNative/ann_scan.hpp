// A 4-bit scalar-quantised scan with exact re-ranking: the embedded store's
// default ANN index.
//
// Why not faiss for this: Debian's libfaiss 1.7.3 is built GENERIC (no AVX2),
// so its fast-scan PQ runs on emulated SIMD (hundreds of ms a query at 1M
// vectors) and its HNSW on face-like 128-d vectors reaches only recall 0.90
// at efSearch 1024. Scanning every vector's 4-bit code is bandwidth-bound
// (64 bytes a 128-d vector, 64 MB per 1M) and finds the true neighbours among
// its best ~100, which are then scored exactly.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace fk {

class ScanIndex {
public:
    explicit ScanIndex(int dimensions);

    int dimensions() const { return d_; }
    bool trained() const { return !lo_.empty(); }
    int64_t count() const { return int64_t(ids_.size()); }
    int candidates() const { return candidates_; }
    void set_candidates(int r) { candidates_ = r < 1 ? 1 : r; }

    // Per-dimension code ranges from a sample of unit vectors (mean +- 3 sd
    // in 16 steps; the tails clip, and re-ranking absorbs the error).
    void train(const float *unit, int64_t n);
    // Appends unit vectors (normalised again here) with their ids.
    void add(const float *vectors, const int64_t *ids, int64_t n);
    // Removes the given ids in place (the last row moves into the hole);
    // returns how many were present.
    int64_t remove(const int64_t *ids, int64_t n);
    void copy_ids(int64_t *out) const;
    // The k most similar rows to a unit query: ids (-1 past the end) and
    // exact cosine similarities, best first.
    void search(const float *unit_query, int k, int64_t *ids, float *similarities) const;

    // A file of our own format, told apart from faiss' by its first 8 bytes.
    static bool is_scan_file(const char *path);
    void write(std::FILE *file) const;
    static ScanIndex read(const char *path);

private:
    int d_;
    int padded_;    // dimensions rounded up to 128: two nibbles a byte, 64-byte chunks
    int row_bytes_; // padded_ / 2
    int candidates_ = 100;
    std::vector<float> lo_, step_;
    std::vector<uint8_t> codes_;
    std::vector<float> vectors_;  // unit vectors, for the exact re-ranking
    std::vector<int64_t> ids_;

    void encode(const float *unit, uint8_t *row) const;
};

}  // namespace fk
