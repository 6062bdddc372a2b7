// Process-wide settings and small utilities.
#include "engine.hpp"
#include "internal.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <dlib/revision.h>
#include <openssl/evp.h>
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>

namespace {
// OpenCV logs warnings (e.g. "Corrupt JPEG data") to stderr; FaceKit reports
// failures through its own typed errors instead.
struct QuietOpenCV {
    QuietOpenCV() { cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR); }
} quiet;
}  // namespace

extern "C" {

void fk_set_num_threads(int32_t threads) {
    cv::setNumThreads(threads);
    fk::engine::set_threads(threads);
}

void fk_set_mmap_threshold(size_t bytes) {
#if defined(__GLIBC__)
    // glibc otherwise raises its threshold each time a large mapped block is
    // freed (up to 32 MiB), which decides by accident how much freed memory
    // the heap keeps; FaceKit sets it per phase instead (ProcessMemory).
    mallopt(M_MMAP_THRESHOLD, static_cast<int>(bytes));
#else
    (void)bytes;
#endif
}

void fk_set_trim_threshold(size_t bytes) {
#if defined(__GLIBC__)
    mallopt(M_TRIM_THRESHOLD, static_cast<int>(bytes));
#else
    (void)bytes;
#endif
}

// OpenBLAS (dlib's BLAS, through Debian's libblas.so.3) starts its worker
// threads in its constructor, and each busy-waits in sched_yield for 2^28
// cycles (~0.1 s) before it sleeps: in a short run, a core's worth of spinning
// next to the image lanes (~40 ms of CPU while indexing the dataset folder,
// perf). OPENBLAS_THREAD_TIMEOUT would shorten the wait, but OpenBLAS reads it
// in its constructor, before main, and an executable cannot set it in time (a
// setenv from its preinit array is undone by libc's start-up). So the workers
// are stopped through OpenBLAS's own shutdown, the one it runs before a fork;
// its next threaded call starts them again. Another BLAS lacks the symbol.
int32_t fk_blas_stop_idle_threads(void) {
    using Shutdown = int (*)(void);
    auto shutdown = reinterpret_cast<Shutdown>(dlsym(RTLD_DEFAULT, "blas_thread_shutdown_"));
    if (!shutdown) return 0;
    shutdown();
    return 1;
}

fk_status fk_sha256_file(const char *path, char hex[65], fk_error *error) {
    return fk::guarded(error, FK_ERR_IO, [&] {
        const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw fk::Failure(FK_ERR_IO, std::string("cannot open ") + path + ": " + std::strerror(errno));
        struct Close {
            int fd;
            ~Close() { ::close(fd); }
        } close_fd{fd};
        std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX *)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
        EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
        // One buffer per thread, never cleared: a fresh zeroed megabyte per
        // file was 64 MB of writes (and page faults) to hash the dataset folder.
        constexpr size_t kChunk = size_t(1) << 20;
        thread_local std::unique_ptr<unsigned char[]> buf(new unsigned char[kChunk]);
        for (;;) {
            const ssize_t n = ::read(fd, buf.get(), kChunk);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw fk::Failure(FK_ERR_IO, std::string("cannot read ") + path + ": " + std::strerror(errno));
            if (n == 0) break;
            EVP_DigestUpdate(ctx.get(), buf.get(), size_t(n));
        }
        unsigned char digest[32];
        unsigned int len = 0;
        EVP_DigestFinal_ex(ctx.get(), digest, &len);
        for (int i = 0; i < 32; ++i) std::snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    });
}

const char *fk_native_versions(void) {
    static const std::string v = std::string("OpenCV ") + CV_VERSION + ", dlib " +
                                 std::to_string(DLIB_MAJOR_VERSION) + "." + std::to_string(DLIB_MINOR_VERSION);
    return v.c_str();
}

}  // extern "C"

fk::MappedFile::MappedFile(const char *path, size_t min_size, const std::string &too_short, bool copy_on_write) {
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Failure(FK_ERR_IO, std::string("cannot open ") + path + ": " + std::strerror(errno));
    struct stat st{};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw Failure(FK_ERR_IO, std::string(path) + " is not a regular file");
    }
    size = static_cast<size_t>(st.st_size);
    if (size < std::max<size_t>(min_size, 1)) {
        ::close(fd);
        throw Failure(FK_ERR_MODEL_LOAD, too_short);
    }
    data = ::mmap(nullptr, size, copy_on_write ? PROT_READ | PROT_WRITE : PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (data == MAP_FAILED) throw Failure(FK_ERR_IO, std::string("cannot map ") + path + ": " + std::strerror(errno));
}

fk::MappedFile::~MappedFile() {
    if (data != MAP_FAILED) ::munmap(data, size);
}
