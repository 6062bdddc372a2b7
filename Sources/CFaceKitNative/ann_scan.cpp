#include "ann_scan.hpp"

#include "internal.hpp"

#include <immintrin.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <unordered_set>

namespace fk {

namespace {

constexpr char kMagic[8] = {'F', 'K', 'S', 'C', 'A', 'N', '4', '\n'};
constexpr uint32_t kVersion = 1;

// The best `r` (score, row) pairs seen so far. Pruning to r once 2r are held
// keeps the work per row a compare against the floor.
struct Best {
    size_t r;
    bool pruned = false;
    int32_t floor = INT32_MIN;
    std::vector<std::pair<int32_t, int64_t>> items;

    explicit Best(size_t r) : r(r) { items.reserve(2 * r); }

    void offer(int32_t score, int64_t row) {
        if (pruned && score <= floor) return;
        items.emplace_back(score, row);
        if (items.size() >= 2 * r) prune();
    }

    void prune() {
        if (items.size() <= r) return;
        std::nth_element(items.begin(), items.begin() + long(r) - 1, items.end(),
                         [](const auto &a, const auto &b) { return a.first > b.first; });
        items.resize(r);
        floor = items.back().first;
        pruned = true;
    }
};

using Kernel = void (*)(const uint8_t *codes, int64_t begin, int64_t end, int row_bytes, const int8_t *query,
                        Best &best);

// Byte b of a row holds dimension b in its low nibble and dimension
// b + row_bytes in its high nibble, so one load serves two query halves.
#define FK_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))
FK_VNNI inline __m512i vnni_row(const uint8_t *row, int chunks, int row_bytes, const int8_t *query) {
    const __m512i mask = _mm512_set1_epi8(0x0F);
    __m512i acc = _mm512_setzero_si512();
    for (int c = 0; c < chunks; c++) {
        __m512i v = _mm512_loadu_si512(row + 64 * c);
        __m512i lo = _mm512_and_si512(v, mask);
        __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), mask);
        acc = _mm512_dpbusd_epi32(acc, lo, _mm512_loadu_si512(query + 64 * c));
        acc = _mm512_dpbusd_epi32(acc, hi, _mm512_loadu_si512(query + row_bytes + 64 * c));
    }
    return acc;
}

FK_VNNI void scan_vnni(const uint8_t *codes, int64_t begin, int64_t end, int row_bytes, const int8_t *query,
                       Best &best) {
    const int chunks = row_bytes / 64;
    auto row_sum = [&](const uint8_t *row) FK_VNNI { return vnni_row(row, chunks, row_bytes, query); };
    int64_t i = begin;
    for (; i + 4 <= end; i += 4) {
        const uint8_t *row = codes + i * row_bytes;
        __m512i a0 = row_sum(row), a1 = row_sum(row + row_bytes), a2 = row_sum(row + 2 * row_bytes),
                a3 = row_sum(row + 3 * row_bytes);
        best.offer(_mm512_reduce_add_epi32(a0), i);
        best.offer(_mm512_reduce_add_epi32(a1), i + 1);
        best.offer(_mm512_reduce_add_epi32(a2), i + 2);
        best.offer(_mm512_reduce_add_epi32(a3), i + 3);
    }
    for (; i < end; i++) best.offer(_mm512_reduce_add_epi32(row_sum(codes + i * row_bytes)), i);
}

__attribute__((target("avx2"))) void scan_avx2(const uint8_t *codes, int64_t begin, int64_t end, int row_bytes,
                                               const int8_t *query, Best &best) {
    const int halves = row_bytes / 32;
    const __m256i mask = _mm256_set1_epi8(0x0F);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t i = begin; i < end; i++) {
        const uint8_t *row = codes + i * row_bytes;
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < halves; h++) {
            __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(row + 32 * h));
            __m256i lo = _mm256_and_si256(v, mask);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
            // 15 * 127 * 2 per pair, twice: 7620 fits int16.
            __m256i p = _mm256_add_epi16(
                _mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(query + 32 * h))),
                _mm256_maddubs_epi16(
                    hi, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(query + row_bytes + 32 * h))));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, ones));
        }
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
        best.offer(_mm_cvtsi128_si32(s), i);
    }
}

void scan_portable(const uint8_t *codes, int64_t begin, int64_t end, int row_bytes, const int8_t *query,
                   Best &best) {
    for (int64_t i = begin; i < end; i++) {
        const uint8_t *row = codes + i * row_bytes;
        int32_t sum = 0;
        for (int b = 0; b < row_bytes; b++)
            sum += int32_t(row[b] & 0x0F) * query[b] + int32_t(row[b] >> 4) * query[row_bytes + b];
        best.offer(sum, i);
    }
}

Kernel pick_kernel() {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) return scan_vnni;
    if (__builtin_cpu_supports("avx2")) return scan_avx2;
    return scan_portable;
}

void normalise_into(const float *in, int d, float *out) {
    double sum = 0;
    for (int j = 0; j < d; j++) sum += double(in[j]) * in[j];
    float inv = sum > 0 ? float(1 / std::sqrt(sum)) : 0.f;
    for (int j = 0; j < d; j++) out[j] = in[j] * inv;
}

template <typename T>
void grow_for(std::vector<T> &v, size_t extra) {
    size_t need = v.size() + extra;
    if (v.capacity() < need) v.reserve(std::max(need, v.capacity() + v.capacity() / 2));
}

}  // namespace

ScanIndex::ScanIndex(int dimensions) : d_(dimensions) {
    if (dimensions <= 0) throw Failure(FK_ERR_INVALID_ARGUMENT, "bad ANN dimensions");
    padded_ = (dimensions + 127) / 128 * 128;
    row_bytes_ = padded_ / 2;
}

void ScanIndex::train(const float *unit, int64_t n) {
    if (n <= 0) throw Failure(FK_ERR_INVALID_ARGUMENT, "training needs vectors");
    std::vector<double> sum(size_t(d_), 0), squares(size_t(d_), 0);
    std::vector<float> v(static_cast<size_t>(d_));
    for (int64_t r = 0; r < n; r++) {
        normalise_into(unit + r * d_, d_, v.data());
        for (int j = 0; j < d_; j++) {
            sum[size_t(j)] += v[size_t(j)];
            squares[size_t(j)] += double(v[size_t(j)]) * v[size_t(j)];
        }
    }
    lo_.assign(size_t(d_), 0);
    step_.assign(size_t(d_), 0);
    for (int j = 0; j < d_; j++) {
        double mean = sum[size_t(j)] / double(n);
        double sd = std::sqrt(std::max(0.0, squares[size_t(j)] / double(n) - mean * mean));
        if (sd < 1e-9) sd = 1e-9;
        lo_[size_t(j)] = float(mean - 3 * sd);
        step_[size_t(j)] = float(6 * sd / 15);
    }
}

void ScanIndex::encode(const float *unit, uint8_t *row) const {
    std::memset(row, 0, size_t(row_bytes_));
    for (int j = 0; j < d_; j++) {
        long code = std::lrint((unit[j] - lo_[size_t(j)]) / step_[size_t(j)]);
        auto nibble = uint8_t(std::clamp(code, 0L, 15L));
        if (j < row_bytes_) row[j] |= nibble;
        else row[j - row_bytes_] |= uint8_t(nibble << 4);
    }
}

void ScanIndex::add(const float *vectors, const int64_t *ids, int64_t n) {
    if (!trained()) throw Failure(FK_ERR_INVALID_ARGUMENT, "the index must be trained before adding");
    grow_for(vectors_, size_t(n) * size_t(d_));
    grow_for(codes_, size_t(n) * size_t(row_bytes_));
    grow_for(ids_, size_t(n));
    for (int64_t r = 0; r < n; r++) {
        size_t at = vectors_.size();
        vectors_.resize(at + size_t(d_));
        normalise_into(vectors + r * d_, d_, vectors_.data() + at);
        size_t code_at = codes_.size();
        codes_.resize(code_at + size_t(row_bytes_));
        encode(vectors_.data() + at, codes_.data() + code_at);
        ids_.push_back(ids[r]);
    }
}

int64_t ScanIndex::remove(const int64_t *ids, int64_t n) {
    std::unordered_set<int64_t> gone(ids, ids + n);
    int64_t removed = 0;
    size_t i = 0;
    while (i < ids_.size()) {
        if (!gone.count(ids_[i])) {
            i++;
            continue;
        }
        size_t last = ids_.size() - 1;
        if (i != last) {
            ids_[i] = ids_[last];
            std::memcpy(codes_.data() + i * size_t(row_bytes_), codes_.data() + last * size_t(row_bytes_),
                        size_t(row_bytes_));
            std::memcpy(vectors_.data() + i * size_t(d_), vectors_.data() + last * size_t(d_),
                        size_t(d_) * sizeof(float));
        }
        ids_.pop_back();
        codes_.resize(codes_.size() - size_t(row_bytes_));
        vectors_.resize(vectors_.size() - size_t(d_));
        removed++;
    }
    return removed;
}

void ScanIndex::copy_ids(int64_t *out) const { std::copy(ids_.begin(), ids_.end(), out); }

void ScanIndex::search(const float *unit_query, int k, int64_t *ids, float *similarities) const {
    static const Kernel kernel = pick_kernel();
    for (int i = 0; i < k; i++) {
        ids[i] = -1;
        similarities[i] = 0;
    }
    const int64_t n = count();
    if (n == 0 || k <= 0) return;
    std::vector<float> q(static_cast<size_t>(d_));
    normalise_into(unit_query, d_, q.data());

    // The code score is sum(code_j * q_j * step_j) (plus a constant per
    // query); the weights are quantised once to int8 for the integer kernels.
    std::vector<float> w(size_t(padded_), 0.f);
    float top = 0;
    for (int j = 0; j < d_; j++) {
        w[size_t(j)] = q[size_t(j)] * step_[size_t(j)];
        top = std::max(top, std::fabs(w[size_t(j)]));
    }
    std::vector<int8_t> weights(size_t(padded_), 0);
    if (top > 0)
        for (int j = 0; j < d_; j++) weights[size_t(j)] = int8_t(std::lrint(w[size_t(j)] * 127.f / top));

    const size_t r = size_t(std::max(candidates_, k));
    // Two cores halve a bandwidth-bound scan; below ~128k rows a thread
    // costs more than it saves.
    unsigned threads = std::min<unsigned>(std::max(1u, std::thread::hardware_concurrency()), 4u);
    if (n < 131072) threads = 1;
    std::vector<Best> parts(threads, Best(r));
    auto run = [&](unsigned t) {
        int64_t begin = n * int64_t(t) / int64_t(threads), end = n * int64_t(t + 1) / int64_t(threads);
        kernel(codes_.data(), begin, end, row_bytes_, weights.data(), parts[t]);
    };
    std::vector<std::thread> helpers;
    for (unsigned t = 1; t < threads; t++) helpers.emplace_back(run, t);
    run(0);
    for (auto &h : helpers) h.join();

    // Re-rank the union of the candidates exactly.
    std::vector<std::pair<float, int64_t>> scored;
    for (auto &part : parts) {
        for (auto &[score, row] : part.items) {
            const float *v = vectors_.data() + row * d_;
            float dot = 0;
            for (int j = 0; j < d_; j++) dot += v[j] * q[size_t(j)];
            scored.emplace_back(dot, row);
        }
    }
    size_t keep = std::min(scored.size(), size_t(k));
    std::partial_sort(scored.begin(), scored.begin() + long(keep), scored.end(), [&](const auto &a, const auto &b) {
        return a.first != b.first ? a.first > b.first : ids_[size_t(a.second)] < ids_[size_t(b.second)];
    });
    for (size_t i = 0; i < keep; i++) {
        ids[i] = ids_[size_t(scored[i].second)];
        similarities[i] = scored[i].first;
    }
}

bool ScanIndex::is_scan_file(const char *path) {
    std::FILE *f = std::fopen(path, "rb");
    if (!f) return false;
    char head[8] = {};
    bool yes = std::fread(head, 1, 8, f) == 8 && std::memcmp(head, kMagic, 8) == 0;
    std::fclose(f);
    return yes;
}

void ScanIndex::write(std::FILE *f) const {
    if (!trained()) throw Failure(FK_ERR_INVALID_ARGUMENT, "an untrained ANN index is not saved");
    auto put = [&](const void *data, size_t bytes) {
        if (bytes && std::fwrite(data, 1, bytes, f) != bytes) throw Failure(FK_ERR_IO, "cannot write the ANN index");
    };
    int32_t header[3] = {int32_t(kVersion), d_, candidates_};
    int64_t n = count();
    put(kMagic, 8);
    put(header, sizeof header);
    put(&n, sizeof n);
    put(lo_.data(), lo_.size() * sizeof(float));
    put(step_.data(), step_.size() * sizeof(float));
    put(ids_.data(), ids_.size() * sizeof(int64_t));
    put(codes_.data(), codes_.size());
    put(vectors_.data(), vectors_.size() * sizeof(float));
}

ScanIndex ScanIndex::read(const char *path) {
    std::unique_ptr<std::FILE, int (*)(std::FILE *)> f(std::fopen(path, "rb"), std::fclose);
    if (!f) throw Failure(FK_ERR_IO, std::string("cannot open ") + path);
    std::fseek(f.get(), 0, SEEK_END);
    long size = std::ftell(f.get());
    std::fseek(f.get(), 0, SEEK_SET);
    auto get = [&](void *data, size_t bytes) {
        if (bytes && std::fread(data, 1, bytes, f.get()) != bytes)
            throw Failure(FK_ERR_MODEL_LOAD, std::string(path) + ": truncated ANN index");
    };
    char magic[8];
    int32_t header[3];
    int64_t n = 0;
    get(magic, 8);
    get(header, sizeof header);
    get(&n, sizeof n);
    if (std::memcmp(magic, kMagic, 8) != 0 || header[0] != int32_t(kVersion) || header[1] <= 0 || header[1] > 65536 || n < 0)
        throw Failure(FK_ERR_MODEL_LOAD, std::string(path) + ": not a FaceKit scan index of this version");
    ScanIndex index(header[1]);
    index.candidates_ = std::max(1, header[2]);
    const size_t d = size_t(index.d_);
    const size_t expected = 8 + sizeof header + sizeof n + 2 * d * sizeof(float) +
                            size_t(n) * (sizeof(int64_t) + size_t(index.row_bytes_) + d * sizeof(float));
    if (size < 0 || size_t(size) != expected)
        throw Failure(FK_ERR_MODEL_LOAD, std::string(path) + ": ANN index has the wrong size");
    index.lo_.resize(d);
    index.step_.resize(d);
    index.ids_.resize(size_t(n));
    index.codes_.resize(size_t(n) * size_t(index.row_bytes_));
    index.vectors_.resize(size_t(n) * d);
    get(index.lo_.data(), d * sizeof(float));
    get(index.step_.data(), d * sizeof(float));
    get(index.ids_.data(), size_t(n) * sizeof(int64_t));
    get(index.codes_.data(), index.codes_.size());
    get(index.vectors_.data(), index.vectors_.size() * sizeof(float));
    return index;
}

}  // namespace fk
