// Keras weight files read with the HDF5 C API (Debian's libhdf5, 1.10).
//
// Keras writes one group per layer, listed in the attribute layer_names of
// the root (save_weights) or of /model_weights (a full-model save); each
// layer group lists its datasets in the attribute weight_names, as paths
// relative to the group. Every failure names the file, and the layer and
// weight where there is one, because a truncated download otherwise shows
// up as a bare "read failed" deep inside HDF5.
#include "internal.hpp"

#include <hdf5.h>

#include <dlfcn.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>

namespace {

// libhdf5 is opened on first use (dlopen), not linked: Debian's build
// depends on libcurl and its TLS, Kerberos and LDAP stack, about 30 shared
// objects that every facekit process would otherwise load at start, .h5
// files or not.
struct Hdf5 {
#define FK_H5_FUNCTIONS(X) \
    X(H5open) X(H5Eset_auto2) X(H5Ewalk2) X(H5Eclear2) X(H5Aexists) X(H5Aopen) X(H5Aget_type) X(H5Aget_space) \
    X(H5Aread) X(H5Aclose) X(H5Tget_class) X(H5Tis_variable_str) X(H5Tcopy) X(H5Tset_size) X(H5Tget_size)        \
    X(H5Tclose) X(H5Sget_simple_extent_ndims) X(H5Sget_simple_extent_npoints) X(H5Sget_simple_extent_dims)       \
    X(H5Sclose) X(H5Dvlen_reclaim) X(H5Fis_hdf5) X(H5Fopen) X(H5Fclose) X(H5Lexists) X(H5Gopen2) X(H5Gclose)     \
    X(H5Dopen2) X(H5Dget_space) X(H5Dget_type) X(H5Dread) X(H5Dclose)
#define FK_H5_MEMBER(name) decltype(&::name) name = nullptr;
    FK_H5_FUNCTIONS(FK_H5_MEMBER)
#undef FK_H5_MEMBER
    hid_t c_s1 = -1;          // H5T_C_S1
    hid_t native_float = -1;  // H5T_NATIVE_FLOAT
    std::string error;

    Hdf5() {
        const char *library = "libhdf5_serial.so.103";
        void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
        if (!handle) {
            const char *why = dlerror();
            error = std::string("cannot load ") + library + " (Debian package libhdf5-103-1): " + (why ? why : "unknown");
            return;
        }
#define FK_H5_LOAD(name) name = reinterpret_cast<decltype(name)>(dlsym(handle, #name)); if (!name) { error = "libhdf5 lacks " #name; return; }
        FK_H5_FUNCTIONS(FK_H5_LOAD)
#undef FK_H5_LOAD
        if (H5open() < 0) {
            error = "libhdf5 failed to initialise";
            return;
        }
        auto *s1 = static_cast<hid_t *>(dlsym(handle, "H5T_C_S1_g"));
        auto *f32 = static_cast<hid_t *>(dlsym(handle, "H5T_NATIVE_FLOAT_g"));
        if (!s1 || !f32) {
            error = "libhdf5 lacks its type constants";
            return;
        }
        c_s1 = *s1;
        native_float = *f32;
    }
};

// Loaded once per process and never changed after; the library stays mapped.
const Hdf5 &h5() {
    static const Hdf5 api;
    if (!api.error.empty()) throw fk::Failure(FK_ERR_MODEL_LOAD, api.error);
    return api;
}

// Closes an HDF5 identifier when it goes out of scope.
struct Handle {
    hid_t id = -1;
    herr_t (*close)(hid_t) = nullptr;
    Handle(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
    Handle(const Handle &) = delete;
    Handle &operator=(const Handle &) = delete;
    ~Handle() {
        if (id >= 0 && close) close(id);
    }
    bool ok() const { return id >= 0; }
};

// HDF5 prints its error stack to stderr by default; FaceKit reports errors
// itself. The setting is per thread in a thread-safe HDF5, so every entry
// point calls this.
void silence_hdf5() { h5().H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

// The innermost message of HDF5's error stack, for the error text.
std::string hdf5_reason() {
    std::string reason;
    h5().H5Ewalk2(
        H5E_DEFAULT, H5E_WALK_UPWARD,
        [](unsigned, const H5E_error2_t *e, void *data) -> herr_t {
            auto *out = static_cast<std::string *>(data);
            if (out->empty() && e && e->desc) *out = e->desc;
            return 0;
        },
        &reason);
    h5().H5Eclear2(H5E_DEFAULT);
    return reason.empty() ? "HDF5 error" : reason;
}

// Reads a 1-d string attribute (fixed-length, as h5py writes numpy bytes
// arrays, or variable-length).
std::vector<std::string> read_string_list(hid_t object, const char *name, const std::string &where) {
    std::vector<std::string> result;
    if (h5().H5Aexists(object, name) <= 0) return result;
    Handle attr(h5().H5Aopen(object, name, H5P_DEFAULT), h5().H5Aclose);
    if (!attr.ok()) throw fk::Failure(FK_ERR_MODEL_LOAD, where + ": cannot open attribute " + name + " (" + hdf5_reason() + ")");
    Handle type(h5().H5Aget_type(attr.id), h5().H5Tclose);
    Handle space(h5().H5Aget_space(attr.id), h5().H5Sclose);
    int dims = h5().H5Sget_simple_extent_ndims(space.id);
    hssize_t count = h5().H5Sget_simple_extent_npoints(space.id);
    if (dims > 1 || count < 0) throw fk::Failure(FK_ERR_MODEL_LOAD, where + ": attribute " + name + " has an unexpected shape");
    // h5py stores an empty list as an empty float array.
    if (count == 0) return result;
    if (h5().H5Tget_class(type.id) != H5T_STRING)
        throw fk::Failure(FK_ERR_MODEL_LOAD, where + ": attribute " + name + " is not a list of strings");
    if (h5().H5Tis_variable_str(type.id) > 0) {
        Handle memtype(h5().H5Tcopy(h5().c_s1), h5().H5Tclose);
        h5().H5Tset_size(memtype.id, H5T_VARIABLE);
        std::vector<char *> strings(static_cast<size_t>(count), nullptr);
        if (h5().H5Aread(attr.id, memtype.id, strings.data()) < 0)
            throw fk::Failure(FK_ERR_MODEL_LOAD, where + ": cannot read attribute " + name + " (" + hdf5_reason() + ")");
        for (char *s : strings) result.emplace_back(s ? s : "");
        h5().H5Dvlen_reclaim(memtype.id, space.id, H5P_DEFAULT, strings.data());
    } else {
        size_t size = h5().H5Tget_size(type.id);
        std::vector<char> buffer(size * static_cast<size_t>(count) + 1, '\0');
        if (h5().H5Aread(attr.id, type.id, buffer.data()) < 0)
            throw fk::Failure(FK_ERR_MODEL_LOAD, where + ": cannot read attribute " + name + " (" + hdf5_reason() + ")");
        for (hssize_t i = 0; i < count; ++i) {
            const char *start = buffer.data() + static_cast<size_t>(i) * size;
            result.emplace_back(start, strnlen(start, size));
        }
    }
    return result;
}

void write_names(const std::vector<std::string> &names, char *buf, size_t capacity, size_t *needed) {
    size_t total = 0;
    for (const auto &n : names) total += n.size() + 1;
    *needed = total;
    if (total > capacity || !buf) return;
    char *p = buf;
    for (const auto &n : names) {
        std::memcpy(p, n.c_str(), n.size() + 1);
        p += n.size() + 1;
    }
}

}  // namespace

struct fk_h5 {
    std::string path;
    hid_t file = -1;
    hid_t root = -1;  // "/" or "/model_weights"
    std::vector<std::string> layers;
    ~fk_h5() {
        if (root >= 0) h5().H5Gclose(root);
        if (file >= 0) h5().H5Fclose(file);
    }

    hid_t open_layer(const std::string &layer, Handle &holder) const {
        if (std::find(layers.begin(), layers.end(), layer) == layers.end())
            throw fk::Failure(FK_ERR_MODEL_LOAD, path + ": no layer '" + layer + "' in the file");
        holder.id = h5().H5Gopen2(root, layer.c_str(), H5P_DEFAULT);
        holder.close = h5().H5Gclose;
        if (!holder.ok())
            throw fk::Failure(FK_ERR_MODEL_LOAD, path + ": layer '" + layer + "' is listed but its group cannot be opened (" + hdf5_reason() + ")");
        return holder.id;
    }

    // Opens a weight's dataset, checking that the layer lists it.
    void open_weight(const std::string &layer, const std::string &weight, Handle &group, Handle &dataset) const {
        hid_t g = open_layer(layer, group);
        auto names = read_string_list(g, "weight_names", path + " layer '" + layer + "'");
        if (std::find(names.begin(), names.end(), weight) == names.end())
            throw fk::Failure(FK_ERR_MODEL_LOAD, path + ": layer '" + layer + "' has no weight '" + weight + "'");
        dataset.id = h5().H5Dopen2(g, weight.c_str(), H5P_DEFAULT);
        dataset.close = h5().H5Dclose;
        if (!dataset.ok())
            throw fk::Failure(FK_ERR_MODEL_LOAD, path + ": weight '" + weight + "' of layer '" + layer +
                                                     "' cannot be opened (" + hdf5_reason() + "; truncated or corrupt file?)");
    }
};

extern "C" {

fk_status fk_h5_open(const char *path, fk_h5 **out, fk_error *error) {
    return fk::guarded(error, FK_ERR_MODEL_LOAD, [&] {
        silence_hdf5();
        if (!path) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "no path given");
        auto h = std::make_unique<fk_h5>();
        h->path = path;
        if (FILE *probe = std::fopen(path, "rb")) {
            std::fclose(probe);
        } else {
            throw fk::Failure(FK_ERR_IO, std::string(path) + ": cannot open (" + std::strerror(errno) + ")");
        }
        if (h5().H5Fis_hdf5(path) <= 0) {
            h5().H5Eclear2(H5E_DEFAULT);
            throw fk::Failure(FK_ERR_MODEL_LOAD, std::string(path) + ": not an HDF5 file (truncated or corrupt?)");
        }
        h->file = h5().H5Fopen(path, 0x0000u /* H5F_ACC_RDONLY, whose macro calls into the library */, H5P_DEFAULT);
        if (h->file < 0) throw fk::Failure(FK_ERR_MODEL_LOAD, std::string(path) + ": cannot open as HDF5 (" + hdf5_reason() + ")");
        const char *root = h5().H5Lexists(h->file, "model_weights", H5P_DEFAULT) > 0 ? "/model_weights" : "/";
        h->root = h5().H5Gopen2(h->file, root, H5P_DEFAULT);
        if (h->root < 0) throw fk::Failure(FK_ERR_MODEL_LOAD, std::string(path) + ": cannot open group " + root + " (" + hdf5_reason() + ")");
        h->layers = read_string_list(h->root, "layer_names", std::string(path));
        if (h->layers.empty())
            throw fk::Failure(FK_ERR_MODEL_LOAD, std::string(path) + ": no layer_names attribute; not a Keras weight file");
        *out = h.release();
    });
}

void fk_h5_free(fk_h5 *file) { delete file; }

fk_status fk_h5_layer_names(fk_h5 *file, char *buf, size_t capacity, size_t *needed, fk_error *error) {
    return fk::guarded(error, FK_ERR_MODEL_LOAD, [&] { write_names(file->layers, buf, capacity, needed); });
}

fk_status fk_h5_weight_names(fk_h5 *file, const char *layer, char *buf, size_t capacity, size_t *needed,
                             fk_error *error) {
    return fk::guarded(error, FK_ERR_MODEL_LOAD, [&] {
        silence_hdf5();
        Handle group(-1, nullptr);
        hid_t g = file->open_layer(layer, group);
        write_names(read_string_list(g, "weight_names", file->path + " layer '" + layer + "'"), buf, capacity, needed);
    });
}

fk_status fk_h5_weight_shape(fk_h5 *file, const char *layer, const char *weight, int64_t shape[8], int32_t *dims,
                             fk_error *error) {
    return fk::guarded(error, FK_ERR_MODEL_LOAD, [&] {
        silence_hdf5();
        Handle group(-1, nullptr), dataset(-1, nullptr);
        file->open_weight(layer, weight, group, dataset);
        Handle space(h5().H5Dget_space(dataset.id), h5().H5Sclose);
        int n = space.ok() ? h5().H5Sget_simple_extent_ndims(space.id) : -1;
        if (n < 0 || n > 8)
            throw fk::Failure(FK_ERR_MODEL_LOAD, file->path + ": weight '" + weight + "' of layer '" + layer + "' has an unreadable shape");
        hsize_t d[8];
        h5().H5Sget_simple_extent_dims(space.id, d, nullptr);
        for (int i = 0; i < n; ++i) shape[i] = static_cast<int64_t>(d[i]);
        *dims = n;
    });
}

fk_status fk_h5_weight_read(fk_h5 *file, const char *layer, const char *weight, float *out, size_t count,
                            fk_error *error) {
    return fk::guarded(error, FK_ERR_MODEL_LOAD, [&] {
        silence_hdf5();
        Handle group(-1, nullptr), dataset(-1, nullptr);
        file->open_weight(layer, weight, group, dataset);
        std::string where = file->path + ": weight '" + weight + "' of layer '" + layer + "'";
        Handle type(h5().H5Dget_type(dataset.id), h5().H5Tclose);
        if (h5().H5Tget_class(type.id) != H5T_FLOAT) throw fk::Failure(FK_ERR_MODEL_LOAD, where + " is not floating point");
        Handle space(h5().H5Dget_space(dataset.id), h5().H5Sclose);
        hssize_t points = h5().H5Sget_simple_extent_npoints(space.id);
        if (points < 0 || static_cast<size_t>(points) != count)
            throw fk::Failure(FK_ERR_MODEL_LOAD, where + " has " + std::to_string(points) + " values, expected " + std::to_string(count));
        if (h5().H5Dread(dataset.id, h5().native_float, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
            throw fk::Failure(FK_ERR_MODEL_LOAD, where + " cannot be read (" + hdf5_reason() + "; truncated or corrupt file?)");
        for (size_t i = 0; i < count; ++i) {
            if (!std::isfinite(out[i])) throw fk::Failure(FK_ERR_MODEL_LOAD, where + " holds a NaN or infinite value");
        }
    });
}

}  // extern "C"
