package io.gpups.cuda;

import io.gpups.core.device.DeviceOutOfMemoryException;

import jcuda.CudaException;
import jcuda.driver.CUresult;
import jcuda.jcublas.cublasStatus;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Status codes to exceptions; needs no GPU (the code constants are plain Java). */
class CudaErrorsTest {

    /**
     * Only success passes: every other code throws, naming the call and the code, whether the driver or cuBLAS
     * defines it or not (a negative code, one a newer driver added). A check that let some failure through, e.g.
     * {@code result <= CUDA_SUCCESS} or a forgotten code, fails here.
     */
    @Test
    void everyCodeButSuccessThrowsNamingTheCallAndTheCode() {
        assertDoesNotThrow(() -> CudaErrors.check(CUresult.CUDA_SUCCESS, "cuMemAlloc"));
        assertDoesNotThrow(() -> CudaErrors.checkBlas(cublasStatus.CUBLAS_STATUS_SUCCESS, "cublasSgemm"));
        int driverCodes = 0;
        for (int code = -1; code <= 1000; code++) {
            if (code == CUresult.CUDA_SUCCESS) {
                continue;
            }
            String name = CUresult.stringFor(code);
            int c = code;
            RuntimeException e = assertThrows(RuntimeException.class, () -> CudaErrors.check(c, "cuCall"), name);
            assertEquals("cuCall failed: " + name, e.getMessage());
            if (!name.startsWith("INVALID")) {
                driverCodes++;
            }
        }
        assertTrue(driverCodes > 50, "CUresult defines " + driverCodes + " error codes");
        for (int status = -1; status <= 20; status++) {
            if (status == cublasStatus.CUBLAS_STATUS_SUCCESS) {
                continue;
            }
            String name = cublasStatus.stringFor(status);
            int s = status;
            RuntimeException e = assertThrows(RuntimeException.class, () -> CudaErrors.checkBlas(s, "cublasCall"), name);
            assertEquals("cublasCall failed: " + name, e.getMessage());
        }
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
