package io.peft4j.core.io;

import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Replaces files so that a reader (or a crash) sees either the old content or the complete new one,
 * never a half-written file: the content goes to a temporary file in the target's directory, is
 * forced to disk, and is then renamed over the target with {@link StandardCopyOption#ATOMIC_MOVE}.
 * A checkpoint interrupted mid-save therefore never destroys the previous checkpoint.
 */
public final class AtomicFiles {

    private static final int BUFFER_SIZE = 1 << 16;

    private AtomicFiles() {}

    /**
     * Writes {@code target} atomically with the bytes {@code body} writes to the stream it is
     * given. If {@code body} (or anything else) fails, the temporary file is deleted and {@code
     * target} is left as it was. {@code body} may close the stream; that only flushes it.
     *
     * @param target the file to create or replace
     * @param body writes the new content
     * @throws IOException if {@code body} or the file system fails
     */
    public static void write(Path target, IoConsumer<OutputStream> body) throws IOException {
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(body, "body");
        Path absolute = target.toAbsolutePath();
        Path dir = absolute.getParent();
        if (dir == null) {
            throw new IOException("cannot write " + target + ": it has no parent directory");
        }
        if (Files.isDirectory(absolute)) {
            throw new IOException("cannot write " + target + ": it is a directory");
        }
        Path temp = createTemp(dir, absolute.getFileName().toString());
        boolean done = false;
        try {
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                OutputStream out =
                        new BufferedOutputStream(Channels.newOutputStream(channel), BUFFER_SIZE);
                body.accept(new NonClosingStream(out, target));
                try {
                    out.flush();
                    // Data must be on disk before the rename makes it visible, or a crash could
                    // leave a renamed but empty file.
                    channel.force(true);
                } catch (IOException e) {
                    throw named(target, e);
                }
            }
            try {
                Files.move(temp, absolute, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                throw named(target, e);
            }
            done = true;
        } finally {
            if (!done) {
                try {
                    Files.deleteIfExists(temp);
                } catch (IOException suppressed) {
                    // The original failure matters more; the temp file is dot-prefixed and named
                    // after the target, so it is recognisable if it survives.
                }
            }
        }
        fsyncDirectory(dir);
    }

    /**
     * Writes {@code text} to {@code target} atomically, UTF-8 encoded.
     *
     * @param target the file to create or replace
     * @param text the content
     * @throws IOException if the file system fails
     */
    public static void writeString(Path target, String text) throws IOException {
        Objects.requireNonNull(text, "text");
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        write(target, out -> out.write(bytes));
    }

    private static Path createTemp(Path dir, String targetName) throws IOException {
        // Not Files.createTempFile: that creates mode 0600, which the rename would give the target.
        // CREATE_NEW with default attributes honours the umask like any ordinary file.
        for (int attempt = 0; ; attempt++) {
            String suffix = Long.toHexString(ThreadLocalRandom.current().nextLong());
            Path temp = dir.resolve("." + targetName + "." + suffix + ".tmp");
            try {
                Files.newByteChannel(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)
                        .close();
                return temp;
            } catch (FileAlreadyExistsException e) {
                if (attempt >= 100) {
                    throw e;
                }
            }
        }
    }

    private static void fsyncDirectory(Path dir) {
        // Makes the rename itself durable on Linux. Some platforms (Windows) cannot open a
        // directory; there the rename is as durable as the file system makes it.
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        } catch (IOException | RuntimeException ignored) {
            // best effort, see above
        }
    }

    /**
     * An error of the file system ("No space left on device" names no file) with the target named.
     */
    private static IOException named(Path target, IOException e) {
        String m = e.getMessage();
        return m != null && m.contains(target.getFileName().toString())
                ? e
                : new IOException("cannot write " + target + ": " + e, e);
    }

    /**
     * Lets the body close "its" stream without closing the channel before it is forced; errors of
     * the file system name the target.
     */
    private static final class NonClosingStream extends FilterOutputStream {
        private final Path target;

        NonClosingStream(OutputStream out, Path target) {
            super(out);
            this.target = target;
        }

        @Override
        public void write(int b) throws IOException {
            try {
                out.write(b);
            } catch (IOException e) {
                throw named(target, e);
            }
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            try {
                out.write(b, off, len);
            } catch (IOException e) {
                throw named(target, e);
            }
        }

        @Override
        public void flush() throws IOException {
            try {
                out.flush();
            } catch (IOException e) {
                throw named(target, e);
            }
        }

        @Override
        public void close() throws IOException {
            flush();
        }
    }
}
