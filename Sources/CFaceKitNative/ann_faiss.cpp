// faiss behind the bridge (Debian's libfaiss-dev 1.7.3 is a static C++
// library with no C API compiled in). Own translation unit: faiss' headers
// are heavy and nothing else needs them.
#include "ann_scan.hpp"
#include "internal.hpp"

#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/MetricType.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/invlists/InvertedLists.h>

#include <omp.h>

#include <cmath>
#include <cstdio>
#include <fcntl.h>
#include <unistd.h>

// Either a faiss index or FaceKit's own 4-bit scan ("SQ4"); every call below
// serves both.
struct fk_ann {
    std::unique_ptr<faiss::Index> index;
    std::unique_ptr<fk::ScanIndex> scan;
    int dimensions = 0;
};

namespace {

using fk::Failure;

// faiss reports misuse with its own exception type; make it a typed failure.
template <typename Body>
fk_status faiss_guarded(fk_error *error, Body &&body) {
    return fk::guarded(error, FK_ERR_INTERNAL, [&] {
        try {
            body();
        } catch (const faiss::FaissException &e) {
            throw Failure(FK_ERR_INVALID_ARGUMENT, std::string("faiss: ") + e.what());
        }
    });
}

std::vector<float> normalised(const float *vectors, int64_t count, int dimensions) {
    std::vector<float> out(vectors, vectors + count * dimensions);
    for (int64_t r = 0; r < count; r++) {
        float *row = out.data() + r * dimensions;
        double sum = 0;
        for (int d = 0; d < dimensions; d++) sum += double(row[d]) * row[d];
        if (sum > 0) {
            float inv = float(1 / std::sqrt(sum));
            for (int d = 0; d < dimensions; d++) row[d] *= inv;
        }
    }
    return out;
}

faiss::IndexIVF *as_ivf(faiss::Index *index) { return dynamic_cast<faiss::IndexIVF *>(index); }

faiss::IndexHNSW *as_hnsw(faiss::Index *index) {
    if (auto map = dynamic_cast<faiss::IndexIDMap *>(index)) return dynamic_cast<faiss::IndexHNSW *>(map->index);
    return dynamic_cast<faiss::IndexHNSW *>(index);
}

}  // namespace

extern "C" {

fk_status fk_ann_create(int32_t dimensions, const char *description, fk_ann **out, fk_error *error) {
    return faiss_guarded(error, [&] {
        if (!out || !description || dimensions <= 0) throw Failure(FK_ERR_INVALID_ARGUMENT, "bad ANN arguments");
        auto ann = std::make_unique<fk_ann>();
        ann->dimensions = dimensions;
        if (std::string(description) == "SQ4") {
            ann->scan = std::make_unique<fk::ScanIndex>(dimensions);
        } else {
            ann->index.reset(faiss::index_factory(dimensions, description, faiss::METRIC_INNER_PRODUCT));
        }
        *out = ann.release();
    });
}

void fk_ann_free(fk_ann *ann) { delete ann; }

int32_t fk_ann_needs_training(const fk_ann *ann) {
    if (!ann) return 0;
    return (ann->scan ? !ann->scan->trained() : !ann->index->is_trained) ? 1 : 0;
}

fk_status fk_ann_train(fk_ann *ann, const float *vectors, int64_t count, fk_error *error) {
    return faiss_guarded(error, [&] {
        if (!ann || (!vectors && count > 0)) throw Failure(FK_ERR_INVALID_ARGUMENT, "bad ANN arguments");
        if (ann->scan) return ann->scan->train(vectors, count);
        auto unit = normalised(vectors, count, ann->dimensions);
        ann->index->train(count, unit.data());
    });
}

fk_status fk_ann_add(fk_ann *ann, const float *vectors, const int64_t *ids, int64_t count, fk_error *error) {
    return faiss_guarded(error, [&] {
        if (!ann || ((!vectors || !ids) && count > 0)) throw Failure(FK_ERR_INVALID_ARGUMENT, "bad ANN arguments");
        if (count == 0) return;
        if (ann->scan) return ann->scan->add(vectors, ids, count);
        auto unit = normalised(vectors, count, ann->dimensions);
        std::vector<faiss::Index::idx_t> keys(ids, ids + count);
        ann->index->add_with_ids(count, unit.data(), keys.data());
    });
}

fk_status fk_ann_remove(fk_ann *ann, const int64_t *ids, int64_t count, int64_t *removed, fk_error *error) {
    return faiss_guarded(error, [&] {
        if (!ann || (!ids && count > 0)) throw Failure(FK_ERR_INVALID_ARGUMENT, "bad ANN arguments");
        if (ann->scan) {
            int64_t n = ann->scan->remove(ids, count);
            if (removed) *removed = n;
            return;
        }
        if (as_hnsw(ann->index.get())) throw Failure(FK_ERR_INVALID_ARGUMENT, "an HNSW index cannot remove vectors");
        std::vector<faiss::Index::idx_t> keys(ids, ids + count);
        faiss::IDSelectorBatch selector(keys.size(), keys.data());
        size_t n = ann->index->remove_ids(selector);
        if (removed) *removed = int64_t(n);
    });
}

int64_t fk_ann_count(const fk_ann *ann) {
    if (!ann) return 0;
    return ann->scan ? ann->scan->count() : int64_t(ann->index->ntotal);
}

int32_t fk_ann_dimensions(const fk_ann *ann) { return ann ? int32_t(ann->dimensions) : 0; }

int32_t fk_ann_lists(const fk_ann *ann) {
    auto ivf = ann && ann->index ? as_ivf(ann->index.get()) : nullptr;
    return ivf ? int32_t(ivf->nlist) : 0;
}

fk_status fk_ann_ids(const fk_ann *ann, int64_t *out, int64_t capacity, fk_error *error) {
    return faiss_guarded(error, [&] {
        if (!ann || (!out && capacity > 0)) throw Failure(FK_ERR_INVALID_ARGUMENT, "bad ANN arguments");
        if (capacity < fk_ann_count(ann)) throw Failure(FK_ERR_INVALID_ARGUMENT, "id buffer too small");
        if (ann->scan) return ann->scan->copy_ids(out);
        int64_t n = 0;
        if (auto map = dynamic_cast<const faiss::IndexIDMap *>(ann->index.get())) {
            for (auto id : map->id_map) out[n++] = id;
        } else if (auto ivf = dynamic_cast<const faiss::IndexIVF *>(ann->index.get())) {
            for (size_t list = 0; list < ivf->nlist; list++) {
                size_t size = ivf->invlists->list_size(list);
                if (size == 0) continue;
                faiss::InvertedLists::ScopedIds ids(ivf->invlists, list);
                for (size_t i = 0; i < size; i++) out[n++] = ids[i];
            }
        } else {
            throw Failure(FK_ERR_INVALID_ARGUMENT, "this index kind does not keep ids");
        }
    });
}

fk_status fk_ann_set_depth(fk_ann *ann, int32_t depth, fk_error *error) {
    return faiss_guarded(error, [&] {
        if (!ann || depth <= 0) throw Failure(FK_ERR_INVALID_ARGUMENT, "bad ANN arguments");
        if (ann->scan) {
            ann->scan->set_candidates(depth);
        } else if (auto ivf = as_ivf(ann->index.get())) {
            ivf->nprobe = std::min<size_t>(size_t(depth), ivf->nlist);
        } else if (auto hnsw = as_hnsw(ann->index.get())) {
            hnsw->hnsw.efSearch = depth;
        } else {
            throw Failure(FK_ERR_INVALID_ARGUMENT, "this index kind has no search depth");
        }
    });
}

fk_status fk_ann_search(const fk_ann *ann, const float *query, int32_t k, int64_t *ids, float *similarities,
                        fk_error *error) {
    return faiss_guarded(error, [&] {
        if (!ann || !query || k <= 0 || !ids || !similarities) throw Failure(FK_ERR_INVALID_ARGUMENT, "bad ANN arguments");
        if (ann->scan) return ann->scan->search(query, k, ids, similarities);
        // One query is one thread's work: an OpenMP team for it costs more
        // than the search, and its spinning threads stall on a busy machine.
        // Training and adding (fk_ann_set_threads) keep every core.
        int threads = omp_get_max_threads();
        omp_set_num_threads(1);
        auto unit = normalised(query, 1, ann->dimensions);
        std::vector<faiss::Index::idx_t> keys(size_t(k), -1);
        try {
            ann->index->search(1, unit.data(), k, similarities, keys.data());
        } catch (...) {
            omp_set_num_threads(threads);
            throw;
        }
        omp_set_num_threads(threads);
        for (int32_t i = 0; i < k; i++) ids[i] = keys[size_t(i)];
    });
}

fk_status fk_ann_save(const fk_ann *ann, const char *path, fk_error *error) {
    return faiss_guarded(error, [&] {
        if (!ann || !path) throw Failure(FK_ERR_INVALID_ARGUMENT, "bad ANN arguments");
        // Per process, so two processes saving the same index never share a temporary.
        std::string temporary = std::string(path) + ".tmp." + std::to_string(::getpid());
        if (ann->scan) {
            std::FILE *file = std::fopen(temporary.c_str(), "wb");
            if (!file) throw Failure(FK_ERR_IO, "cannot create " + temporary);
            try {
                ann->scan->write(file);
            } catch (...) {
                std::fclose(file);
                std::remove(temporary.c_str());
                throw;
            }
            if (std::fclose(file) != 0) throw Failure(FK_ERR_IO, "cannot write " + temporary);
        } else {
            faiss::write_index(ann->index.get(), temporary.c_str());
        }
        int fd = ::open(temporary.c_str(), O_RDONLY);
        if (fd < 0 || ::fsync(fd) != 0) {
            if (fd >= 0) ::close(fd);
            throw Failure(FK_ERR_IO, "cannot flush " + temporary);
        }
        ::close(fd);
        if (std::rename(temporary.c_str(), path) != 0) throw Failure(FK_ERR_IO, std::string("cannot rename to ") + path);
    });
}

fk_status fk_ann_load(const char *path, fk_ann **out, fk_error *error) {
    return faiss_guarded(error, [&] {
        if (!path || !out) throw Failure(FK_ERR_INVALID_ARGUMENT, "bad ANN arguments");
        auto ann = std::make_unique<fk_ann>();
        if (fk::ScanIndex::is_scan_file(path)) {
            ann->scan = std::make_unique<fk::ScanIndex>(fk::ScanIndex::read(path));
            ann->dimensions = ann->scan->dimensions();
            *out = ann.release();
            return;
        }
        ann->index.reset(faiss::read_index(path));
        ann->dimensions = int(ann->index->d);
        if (ann->index->metric_type != faiss::METRIC_INNER_PRODUCT)
            throw Failure(FK_ERR_INVALID_ARGUMENT, std::string(path) + " is not an inner-product index");
        *out = ann.release();
    });
}

void fk_ann_set_threads(int32_t threads) { omp_set_num_threads(threads > 0 ? threads : 1); }

}  // extern "C"
