package io.gpups.cuda;

import io.gpups.core.device.DeviceUnavailableException;

import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;
import static jcuda.driver.JCudaDriver.cuOccupancyMaxActiveBlocksPerMultiprocessor;

/**
 * The kernels of {@code gpups_kernels.cu} loaded into the current context: from the fatbin resource (SASS for sm_80
 * and sm_90, compute_80 PTX that the driver compiles for newer GPUs), or, when the driver refuses the fatbin, from the
 * PTX resource. A failure names the GPU's architecture, what the fatbin holds and the driver's answer.
 */
final class KernelModule implements AutoCloseable {

    private final CUmodule module;
    private final Map<String, CUfunction> functions = new HashMap<>();
    /** Occupancy by kernel and block size, asked of the driver once each. */
    private final Map<String, Integer> occupancy = new ConcurrentHashMap<>();

    /** Loads the module into the context current on this thread; {@code gpu} and {@code arch} are for messages. */
    KernelModule(String gpu, int arch) {
        byte[] fatbin = KernelImage.resource(KernelNames.FATBIN_RESOURCE);
        byte[] ptx = KernelImage.resource(KernelNames.PTX_RESOURCE);
        if (fatbin == null && ptx == null) {
            throw new DeviceUnavailableException(gpu + ": the CUDA kernels are not in this jar (nvcc was missing when "
                    + "it was built)");
        }
        CUmodule loaded = new CUmodule();
        int fromFatbin = fatbin == null ? -1 : cuModuleLoadData(loaded, fatbin);
        int fromPtx = -1;
        if (fromFatbin != CUresult.CUDA_SUCCESS && ptx != null) {
            loaded = new CUmodule();
            // The driver reads PTX as a NUL-terminated string.
            fromPtx = cuModuleLoadData(loaded, Arrays.copyOf(ptx, ptx.length + 1));
        }
        if (fromFatbin != CUresult.CUDA_SUCCESS && fromPtx != CUresult.CUDA_SUCCESS) {
            String holds = fatbin == null ? "no fatbin" : "fatbin with " + KernelImage.entries(fatbin);
            throw new DeviceUnavailableException(gpu + " (sm_" + arch + ") cannot load the kernels: "
                    + (fatbin == null ? "" : "fatbin: " + CUresult.stringFor(fromFatbin) + ", ")
                    + (ptx == null ? "no PTX" : "PTX (nvcc " + KernelImage.versionString(KernelImage.toolkitVersion(
                            new String(ptx, java.nio.charset.StandardCharsets.US_ASCII))) + "): " + CUresult.stringFor(fromPtx))
                    + "; this jar has a " + holds + " (CUDA_ERROR_UNSUPPORTED_PTX_VERSION means the driver is older "
                    + "than the nvcc that built the PTX)");
        }
        this.module = loaded;
        try {
            for (String name : KernelNames.ALL) {
                CUfunction f = new CUfunction();
                CudaErrors.check(cuModuleGetFunction(f, module, name), "cuModuleGetFunction(" + name + ")");
                functions.put(name, f);
            }
        } catch (RuntimeException e) {
            cuModuleUnload(module);
            throw e;
        }
    }

    CUfunction function(String name) {
        CUfunction f = functions.get(name);
        if (f == null) {
            throw new IllegalArgumentException("no kernel " + name + "; kernels: " + List.copyOf(functions.keySet()));
        }
        return f;
    }

    /**
     * Blocks of {@code threadsPerBlock} threads of {@code name} one SM holds at once, as the driver computes it from
     * the kernel's registers and static shared memory ({@code cuOccupancyMaxActiveBlocksPerMultiprocessor}).
     */
    int blocksPerMultiprocessor(String name, int threadsPerBlock) {
        return occupancy.computeIfAbsent(name + "/" + threadsPerBlock, key -> {
            int[] blocks = new int[1];
            CudaErrors.check(cuOccupancyMaxActiveBlocksPerMultiprocessor(blocks, function(name), threadsPerBlock, 0),
                    "cuOccupancyMaxActiveBlocksPerMultiprocessor(" + name + ", " + threadsPerBlock + " threads)");
            return blocks[0];
        });
    }

    @Override
    public void close() {
        cuModuleUnload(module);
    }
}
