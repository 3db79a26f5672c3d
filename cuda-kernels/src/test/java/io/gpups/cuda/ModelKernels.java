package io.gpups.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;

/**
 * Launches the kernels of {@code gpups_kernels.cu} on the host CUDA model ({@link HostCudaModel}) with the shapes
 * {@link CudaDevice} computes: the same {@link LaunchConfig} calls over the same element counts. Arguments are given as
 * CudaDevice gives them to cuLaunchKernel: a pointer or a long long as {@link Long}, an int as {@link Integer}, a float
 * as {@link Float}, a parameter struct as {@code float[]}.
 */
final class ModelKernels {

    /** An H100: 132 SMs of 2048 threads; grids of up to 1056 blocks of 256. */
    static final LaunchConfig.DeviceShape BIG_GPU = new LaunchConfig.DeviceShape(132, 2048, 1024);
    /** Two resident blocks of 256 threads: every grid-stride loop runs long. */
    static final LaunchConfig.DeviceShape TWO_BLOCKS = new LaunchConfig.DeviceShape(1, 512, 1024);

    static final List<LaunchConfig.DeviceShape> SHAPES = List.of(BIG_GPU, TWO_BLOCKS);

    private ModelKernels() {
    }

    /** The kernels the model library holds, in source order. */
    static List<String> names() {
        return Arrays.asList(HostCudaModel.kernel_names().split(","));
    }

    /** {@code CudaDevice.launch(kernel, elements, ...)}: a grid-stride launch over {@code elements} items. */
    static void launch(String kernel, long elements, LaunchConfig.DeviceShape shape, Object... args) {
        if (elements <= 0) {
            return;
        }
        launch(kernel, LaunchConfig.forElements(elements, shape), args);
    }

    /** {@code CudaDevice.launchElementwise}: an element-wise kernel's launch, sized for a thread per float4. */
    static void launchElementwise(String kernel, long elements, LaunchConfig.DeviceShape shape, Object... args) {
        launch(kernel, (elements + 3) / 4, shape, args);
    }

    static void launch(String kernel, LaunchConfig config, Object... args) {
        launch(kernel, config.blocks(), 1, config.threadsPerBlock(), args);
    }

    /** A launch of {@code gridX x gridY} blocks of {@code blockX} threads. */
    static void launch(String kernel, int gridX, int gridY, int blockX, Object... args) {
        int[] offsets = new int[args.length];
        int[] sizes = new int[args.length];
        int at = 0;
        for (int i = 0; i < args.length; i++) {
            sizes[i] = size(args[i]);
            offsets[i] = at;
            at += (sizes[i] + 7) / 8 * 8;
        }
        ByteBuffer packed = ByteBuffer.allocate(Math.max(8, at)).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < args.length; i++) {
            Object a = args[i];
            if (a instanceof Long l) {
                packed.putLong(offsets[i], l);
            } else if (a instanceof Integer n) {
                packed.putInt(offsets[i], n);
            } else if (a instanceof Float f) {
                packed.putFloat(offsets[i], f);
            } else {
                float[] fields = (float[]) a;
                for (int k = 0; k < fields.length; k++) {
                    packed.putFloat(offsets[i] + 4 * k, fields[k]);
                }
            }
        }
        HostCudaModel.launch(kernel, gridX, gridY, 1, blockX, 1, 1, packed.array(), offsets, sizes, args.length);
    }

    private static int size(Object arg) {
        if (arg instanceof Long) {
            return 8;
        }
        if (arg instanceof Integer || arg instanceof Float) {
            return 4;
        }
        if (arg instanceof float[] fields) {
            return 4 * fields.length;
        }
        throw new IllegalArgumentException("kernel argument " + arg + " is not a Long, Integer, Float or float[]");
    }
}
