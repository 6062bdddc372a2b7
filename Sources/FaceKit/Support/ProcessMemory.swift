import CFaceKitNative

/// Process-wide memory policy, for the program that owns the process (the
/// CLI, the server), not for a library call to impose on its host.
public enum ProcessMemory {
    /// Large freed buffers go back to the system at once instead of staying
    /// in the allocator's heap: lower peak RSS when many images pass through
    /// one process, at no measurable cost in speed.
    public static func releaseLargeBuffersPromptly() {
        fk_release_large_buffers_promptly()
    }
}
