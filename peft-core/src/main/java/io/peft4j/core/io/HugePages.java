package io.peft4j.core.io;

import com.sun.jna.Function;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import java.nio.ByteBuffer;
import java.util.Locale;

/**
 * Asks Linux to back a large, freshly allocated array with transparent huge pages ({@code
 * madvise(MADV_HUGEPAGE)}) before it is first written. Loading a checkpoint writes every byte of
 * gigabytes of new memory once; with 4 KiB pages most of that time is page faults (on this
 * project's VM, about 13 us of CPU per fault), with 2 MiB pages there are 512 times fewer. Where
 * the system's THP setting is {@code madvise} (a common default) nothing else turns them on.
 *
 * <p>Best effort: off Linux, without libc through JNA, or on any error it does nothing and stays
 * off. It changes no values, only how the kernel backs the pages. Nothing runs when the class is
 * loaded; libc is looked up on the first call.
 */
final class HugePages {

    private static final int MADV_HUGEPAGE = 14;
    private static final long HUGE = 2L << 20;

    /** Below this, an array spans too few huge pages to matter. */
    private static final long MIN_BYTES = 4 * HUGE;

    private static final Object LOCK = new Object();
    private static Function madvise;
    private static boolean unavailable =
            !System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")
                    || Boolean.getBoolean("peft4j.hugepages.off");

    private HugePages() {}

    /**
     * Advises huge pages for the whole 2 MiB-aligned part of {@code direct}'s memory.
     *
     * @param direct a direct buffer over memory not yet written
     */
    static void advise(ByteBuffer direct) {
        if (direct.capacity() < MIN_BYTES || !direct.isDirect()) {
            return;
        }
        Function f = function();
        if (f == null) {
            return;
        }
        try {
            long address = Pointer.nativeValue(Native.getDirectBufferPointer(direct));
            long start = (address + HUGE - 1) & -HUGE;
            long end = (address + direct.capacity()) & -HUGE;
            if (end > start) {
                f.invokeInt(new Object[] {new Pointer(start), end - start, MADV_HUGEPAGE});
            }
        } catch (RuntimeException | LinkageError e) {
            synchronized (LOCK) {
                unavailable = true;
            }
        }
    }

    private static Function function() {
        synchronized (LOCK) {
            if (madvise == null && !unavailable) {
                try {
                    madvise = NativeLibrary.getInstance("c").getFunction("madvise");
                } catch (RuntimeException | LinkageError e) {
                    unavailable = true;
                }
            }
            return unavailable ? null : madvise;
        }
    }
}
