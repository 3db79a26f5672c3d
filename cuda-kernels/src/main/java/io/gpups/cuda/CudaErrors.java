package io.gpups.cuda;

import io.gpups.core.device.DeviceOutOfMemoryException;

import jcuda.CudaException;
import jcuda.driver.CUresult;
import jcuda.jcublas.cublasStatus;

/**
 * Turns the status codes of the CUDA driver and cuBLAS into exceptions. JCuda's own exception mode is process-wide
 * and off here: every call's code is checked by the caller through this class, so a message names the call and its
 * arguments. {@link CUresult} and {@link cublasStatus} are plain constant classes: using them loads no native code.
 */
final class CudaErrors {

    private CudaErrors() {
    }

    /**
     * Returns normally for {@code CUDA_SUCCESS}. Out of memory (device or pinned host memory) becomes a
     * {@link DeviceOutOfMemoryException}, every other code a {@link CudaException}; both name {@code call}.
     */
    static void check(int result, String call) {
        if (result == CUresult.CUDA_SUCCESS) {
            return;
        }
        String message = call + " failed: " + CUresult.stringFor(result);
        if (result == CUresult.CUDA_ERROR_OUT_OF_MEMORY) {
            throw new DeviceOutOfMemoryException(message);
        }
        throw new CudaException(message);
    }

    /** The same for cuBLAS status codes; {@code CUBLAS_STATUS_ALLOC_FAILED} is out of memory. */
    static void checkBlas(int status, String call) {
        if (status == cublasStatus.CUBLAS_STATUS_SUCCESS) {
            return;
        }
        String message = call + " failed: " + cublasStatus.stringFor(status);
        if (status == cublasStatus.CUBLAS_STATUS_ALLOC_FAILED) {
            throw new DeviceOutOfMemoryException(message);
        }
        throw new CudaException(message);
    }
}
