import CFaceKitNative

/// Process-wide memory (and idle-thread) policy, for the program that owns the process (the
/// CLI, the server), not for a library call to impose on its host. Measured
/// on one base image against 20 (SFace + yunet, scripts/bench-deepface.sh).
public enum ProcessMemory {
    /// For loading networks: large freed buffers go straight back to the
    /// system. Importing an ONNX graph holds the file, its parse and the
    /// weights at once; kept in the heap, that transient peak would add to
    /// every image buffer after it (cold verify: 149 MB instead of 167).
    public static func releaseLargeBuffersPromptly() {
        fk_set_mmap_threshold(1 << 20)
    }

    /// For a handful of images once the networks are loaded: per-image
    /// buffers (decoded pixels, network blobs) are reused from the heap
    /// instead of being mapped and zeroed again for every image (1.03 s ->
    /// 0.78 s on 21 images, for 19 MB more peak memory).
    public static func reuseImageBuffers() {
        fk_set_mmap_threshold(32 << 20)
    }

    /// For a short command: OpenBLAS's worker threads (dlib's BLAS) stop
    /// busy-waiting for work that does not come; the first threaded BLAS
    /// call starts them again. False, and nothing done, with another BLAS.
    @discardableResult
    public static func stopIdleBLASThreads() -> Bool {
        fk_blas_stop_idle_threads() == 1
    }

    /// For streaming a folder: as reuseImageBuffers, and freed memory stays
    /// in the heap too. At glibc's 128 KiB trim threshold, a freed buffer at
    /// the top of a heap (libjpeg's coefficient buffers, face crops) went
    /// straight back to the system and the next image faulted it in again
    /// (indexing 64 images: 266k page faults -> 126k, system time 0.67 s ->
    /// 0.24 s); the verify of one image against 20 would hold ~15 MB more.
    public static func keepImageBuffers() {
        reuseImageBuffers()
        fk_set_trim_threshold(32 << 20)
    }
}
