package io.gpups.cuda;

import io.gpups.core.device.DeviceOutOfMemoryException;

import jcuda.CudaException;
import jcuda.driver.CUresult;
import jcuda.jcublas.cublasStatus;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Status codes to exceptions; needs no GPU (the code constants are plain Java). */
class CudaErrorsTest {

    @Test
    void successIsSilent() {
        assertDoesNotThrow(() -> CudaErrors.check(CUresult.CUDA_SUCCESS, "cuMemAlloc"));
        assertDoesNotThrow(() -> CudaErrors.checkBlas(cublasStatus.CUBLAS_STATUS_SUCCESS, "cublasSgemm"));
    }

    @Test
    void outOfMemoryIsTheDeviceOutOfMemoryExceptionAShardMapsToItsError() {
        DeviceOutOfMemoryException e = assertThrows(DeviceOutOfMemoryException.class,
                () -> CudaErrors.check(CUresult.CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc(4096 bytes)"));
        assertEquals("cuMemAlloc(4096 bytes) failed: CUDA_ERROR_OUT_OF_MEMORY", e.getMessage());
        assertThrows(DeviceOutOfMemoryException.class,
                () -> CudaErrors.checkBlas(cublasStatus.CUBLAS_STATUS_ALLOC_FAILED, "cublasCreate"));
    }

    @Test
    void otherErrorsNameTheCallAndTheCode() {
        CudaException e = assertThrows(CudaException.class,
                () -> CudaErrors.check(CUresult.CUDA_ERROR_ILLEGAL_ADDRESS, "cuStreamSynchronize"));
        assertEquals("cuStreamSynchronize failed: CUDA_ERROR_ILLEGAL_ADDRESS", e.getMessage());
        assertEquals("cublasSgemm failed: CUBLAS_STATUS_INVALID_VALUE", assertThrows(CudaException.class,
                () -> CudaErrors.checkBlas(cublasStatus.CUBLAS_STATUS_INVALID_VALUE, "cublasSgemm")).getMessage());
    }
}
