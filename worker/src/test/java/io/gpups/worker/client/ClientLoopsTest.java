package io.gpups.worker.client;

import io.netty.channel.EventLoopGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Isolated;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Isolated("the group is process-wide")
class ClientLoopsTest {

    @Test
    void clientsOfOneProcessShareOneGroupThatTheLastClientShutsDown() {
        int before = ClientLoops.clients();
        ClientLoops.Lease a = ClientLoops.acquire();
        ClientLoops.Lease b = ClientLoops.acquire();
        EventLoopGroup group = a.group();
        assertSame(group, b.group());
        a.close();
        a.close();
        assertEquals(before + 1, ClientLoops.clients(), "a second close gives nothing back twice");
        assertFalse(group.isShuttingDown(), "b still holds it");
        b.close();
        if (before == 0) {
            assertTrue(group.isShuttingDown());
            ClientLoops.Lease c = ClientLoops.acquire();
            assertNotSame(group, c.group(), "a client after the last one gets a new group");
            c.close();
        }
    }

    @Test
    void aBadThreadCountIsRefusedByName() {
        String old = System.getProperty(ClientLoops.THREADS_PROPERTY);
        try {
            System.setProperty(ClientLoops.THREADS_PROPERTY, "0");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, ClientLoops::threads);
            assertTrue(e.getMessage().contains(ClientLoops.THREADS_PROPERTY) && e.getMessage().contains("'0'"), e.getMessage());
            System.setProperty(ClientLoops.THREADS_PROPERTY, "3");
            assertEquals(3, ClientLoops.threads());
        } finally {
            if (old == null) {
                System.clearProperty(ClientLoops.THREADS_PROPERTY);
            } else {
                System.setProperty(ClientLoops.THREADS_PROPERTY, old);
            }
        }
    }
}
