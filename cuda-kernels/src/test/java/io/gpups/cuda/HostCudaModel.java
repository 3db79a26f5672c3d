package io.gpups.cuda;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Namespace;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * {@code gpups_kernels.cu}, unmodified, compiled by g++ for the host against the CUDA execution model of
 * {@code src/test/cpp/host_cuda/cuda_host_model.h}: the JNI entry points of {@code host_kernels.h}, built by JavaCPP in
 * this module's {@code process-test-classes} phase. Only {@link ModelKernels} calls these.
 *
 * <p>{@link #launch} takes a kernel's arguments as cuLaunchKernel does, one value per parameter, packed into
 * {@code args} at {@code offsets} with their {@code sizes}; pointers are 8-byte host addresses of model memory. The
 * launch returns when every block has run; a misused barrier or warp collective, or a wrong argument count or size,
 * is a {@link RuntimeException} (JavaCPP converts the C++ exception).
 */
@Platform(include = "host_kernels.h", compiler = "cpp17")
@Namespace("gpups_host")
final class HostCudaModel {

    static {
        Loader.load();
    }

    private HostCudaModel() {
    }

    /** The kernels the model was compiled with, comma-separated, in source order. */
    static native @Cast("const char*") String kernel_names();

    /** {@code BatchEntry}'s offsets as compiled, "name=offset" comma-separated ({@code host_kernels.h}). */
    static native @Cast("const char*") String batch_entry_layout();

    static native void launch(String name, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ,
                              @Cast("const char*") byte[] args, @Cast("const int*") int[] offsets,
                              @Cast("const int*") int[] sizes, int count);
}
