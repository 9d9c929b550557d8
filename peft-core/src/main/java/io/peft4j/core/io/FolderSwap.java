package io.peft4j.core.io;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Replaces a folder as a whole, so that a reader (or a crash at any point) finds either all of the
 * old content or all of the new one, never a mix of two saves.
 *
 * <p>Linux offers Java no atomic exchange of two directories, so {@code X} is replaced in steps,
 * each one a single atomic rename, and every intermediate state can be told apart and repaired:
 *
 * <ol>
 *   <li>the new content is written into the sibling {@code .X.new} and forced to disk (a crash
 *       here: {@code X} is untouched; the next writer deletes {@code .X.new});
 *   <li>{@code X} is renamed to {@code .X.old} (a crash here: {@code X} is missing, {@code .X.new}
 *       is complete because step 1 finished; recovery renames it to {@code X});
 *   <li>{@code .X.new} is renamed to {@code X} (the swap: from here on readers see the new
 *       content);
 *   <li>the entries of {@code .X.old} that the new content does not have (files another tool put
 *       there, such as training logs) are moved into {@code X}, then {@code .X.old} is deleted (a
 *       crash here: recovery finishes the move and the delete).
 * </ol>
 *
 * <p>{@link #recover(Path)} performs that repair; {@link #replace} runs it first, and readers call
 * {@link #readable(Path)}, which repairs when it can and otherwise names the complete copy to read.
 * One writer per folder at a time: two processes replacing the same folder concurrently are not
 * supported. The folder's parent must be writable (the siblings live there), and the current
 * working directory cannot be replaced this way (it would be left pointing into the deleted old
 * folder).
 */
public final class FolderSwap {

    private static final String NEW = ".new";
    private static final String OLD = ".old";

    /** How long a reader waits for a writer that is between steps 2 and 3 (microseconds apart). */
    private static final long READER_WAIT_MS = 2000;

    private FolderSwap() {}

    /**
     * Replaces folder {@code target} with what {@code writer} writes into the empty folder it is
     * given. If {@code writer} fails, {@code target} is left as it was and the partial new folder
     * is deleted.
     *
     * @param target the folder to create or replace
     * @param writer writes the complete new content into the folder it receives
     * @return the folder's absolute path
     * @throws IOException if the writer or the file system fails (the message names the path)
     */
    public static Path replace(Path target, IoConsumer<Path> writer) throws IOException {
        Objects.requireNonNull(writer, "writer");
        Path dir = canonical(target);
        Path parent = dir.getParent();
        if (parent == null) {
            throw new IOException(
                    "cannot write into "
                            + target
                            + ": the root folder cannot be replaced; use a sub-folder");
        }
        Path cwd = Path.of("").toAbsolutePath().normalize();
        if (cwd.startsWith(dir)) {
            throw new IOException(
                    "cannot replace "
                            + target
                            + ": it is (or holds) the current working directory;"
                            + " save into a sub-folder");
        }
        Files.createDirectories(parent);
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new FileAlreadyExistsException(
                    dir.toString(), null, "exists and is not a folder");
        }
        recover(dir);
        Path fresh = sibling(dir, NEW);
        Path old = sibling(dir, OLD);
        Files.createDirectory(fresh);
        boolean swapped = false;
        try {
            try {
                writer.accept(fresh);
            } catch (IOException e) {
                String m = e.getMessage();
                if (m != null && m.contains(parent.toString())) {
                    throw e;
                }
                // e.g. "No space left on device" names no file: say which save failed
                throw new IOException("cannot write " + dir + ": " + e, e);
            }
            fsync(fresh);
            if (Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
                Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
                fsync(parent);
            }
            try {
                Files.move(fresh, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                if (Files.exists(old) && !Files.exists(dir)) {
                    Files.move(old, dir, StandardCopyOption.ATOMIC_MOVE);
                }
                throw e;
            }
            swapped = true;
            fsync(parent);
        } finally {
            if (!swapped) {
                deleteTree(fresh);
            }
        }
        if (Files.isDirectory(old, LinkOption.NOFOLLOW_LINKS)) {
            finish(dir, old);
        }
        return dir;
    }

    /**
     * Completes or undoes a {@link #replace} that was interrupted (a crash, a kill): afterwards
     * {@code target} holds one complete save (or does not exist if the first save never finished)
     * and no {@code .X.new}/{@code .X.old} sibling is left.
     *
     * @param target the folder
     * @throws IOException if the repair fails (e.g. the parent is read-only)
     */
    public static void recover(Path target) throws IOException {
        Path dir = canonical(target);
        if (dir.getParent() == null) {
            return;
        }
        Path fresh = sibling(dir, NEW);
        Path old = sibling(dir, OLD);
        boolean hasOld = Files.isDirectory(old, LinkOption.NOFOLLOW_LINKS);
        boolean hasNew = Files.isDirectory(fresh, LinkOption.NOFOLLOW_LINKS);
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            if (hasOld && hasNew) {
                // crash between steps 2 and 3: the new folder was complete before the old one moved
                Files.move(fresh, dir, StandardCopyOption.ATOMIC_MOVE);
                hasNew = false;
            } else if (hasOld) {
                Files.move(old, dir, StandardCopyOption.ATOMIC_MOVE);
                hasOld = false;
            }
        }
        if (hasNew) {
            // crash in step 1: the save never completed, X (or its absence) is the last good state
            deleteTree(fresh);
        }
        if (hasOld) {
            finish(dir, old);
        }
        fsync(dir.getParent());
    }

    /**
     * The folder a reader should read for {@code target}: {@code target} itself, after repairing an
     * interrupted replace where the file system allows it (waiting briefly for a writer that is
     * between its two renames); the complete sibling when the parent is read-only.
     *
     * @param target the folder
     * @return the folder to read (it may not exist, if nothing was ever saved there)
     */
    public static Path readable(Path target) {
        Path dir = canonical(target);
        if (dir.getParent() == null || Files.exists(dir)) {
            return dir;
        }
        Path fresh = sibling(dir, NEW);
        Path old = sibling(dir, OLD);
        if (!Files.isDirectory(old)) {
            return dir; // nothing was swapped out: target simply does not exist (yet)
        }
        long deadline = System.currentTimeMillis() + READER_WAIT_MS;
        while (!Files.exists(dir) && System.currentTimeMillis() < deadline) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        if (Files.exists(dir)) {
            return dir;
        }
        try {
            recover(dir);
        } catch (IOException | UncheckedIOException e) {
            // read-only parent: read the complete copy where it lies
            return Files.isDirectory(fresh) ? fresh : Files.isDirectory(old) ? old : dir;
        }
        return dir;
    }

    /**
     * Whether {@code name} is one of the sibling names {@link #replace} uses, which folder listings
     * should skip.
     *
     * @param name a file name
     * @return true for {@code .X.new} and {@code .X.old}
     */
    public static boolean isSwapSibling(String name) {
        return name.startsWith(".") && (name.endsWith(NEW) || name.endsWith(OLD));
    }

    /** Step 4: carries over what only the old folder had, then deletes it. */
    private static void finish(Path dir, Path old) throws IOException {
        Set<String> present = new HashSet<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.forEach(p -> present.add(p.getFileName().toString()));
        }
        List<Path> carry = new ArrayList<>();
        try (Stream<Path> s = Files.list(old)) {
            s.filter(p -> !present.contains(p.getFileName().toString())).forEach(carry::add);
        }
        for (Path p : carry) {
            try {
                Files.move(
                        p, dir.resolve(p.getFileName().toString()), StandardCopyOption.ATOMIC_MOVE);
            } catch (FileAlreadyExistsException
                    | DirectoryNotEmptyException
                    | NoSuchFileException e) {
                // another recovery moved it first, or the new content has it: the old copy goes
            }
        }
        deleteTree(old);
        fsync(dir);
    }

    private static Path canonical(Path target) {
        Objects.requireNonNull(target, "target");
        Path dir = target.toAbsolutePath().normalize();
        if (Files.isSymbolicLink(dir)) {
            try {
                dir = dir.toRealPath(); // replace the folder the link points to, keep the link
            } catch (IOException e) {
                // a dangling link: replacing it makes a real folder in its place
            }
        }
        return dir;
    }

    private static Path sibling(Path dir, String suffix) {
        return dir.resolveSibling("." + dir.getFileName() + suffix);
    }

    /** Deletes a folder tree; symbolic links inside are removed, never followed. */
    static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        List<Path> all;
        try (Stream<Path> walk = Files.walk(root)) {
            all = new ArrayList<>(walk.sorted(Comparator.reverseOrder()).toList());
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        for (Path p : all) {
            Files.deleteIfExists(p);
        }
    }

    private static void fsync(Path dir) {
        // Makes renames durable on Linux; some platforms cannot open a folder, where the renames
        // are as durable as the file system makes them.
        try (java.nio.channels.FileChannel c =
                java.nio.channels.FileChannel.open(dir, java.nio.file.StandardOpenOption.READ)) {
            c.force(true);
        } catch (IOException | RuntimeException ignored) {
            // best effort
        }
    }
}
