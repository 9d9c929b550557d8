package io.peft4j.examples.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/**
 * Checks an output folder before any work starts, so a long run is not lost at the end: not the
 * root or a system folder, not an existing file, creatable and writable, with a writable parent
 * (the adapter folder is replaced by renames there).
 */
final class OutputFolder {

    /**
     * Folders no run writes into (exactly these; and anything under the kernel's pseudo-folders).
     */
    private static final Set<String> SYSTEM =
            Set.of(
                    "/bin",
                    "/boot",
                    "/dev",
                    "/etc",
                    "/lib",
                    "/lib32",
                    "/lib64",
                    "/libx32",
                    "/proc",
                    "/run",
                    "/sbin",
                    "/sys",
                    "/usr",
                    "/var",
                    "/usr/bin",
                    "/usr/lib",
                    "/usr/sbin",
                    "/usr/local",
                    "/usr/share",
                    "/var/lib",
                    "/var/log",
                    "/opt",
                    "/home",
                    "/mnt",
                    "/media",
                    "/srv",
                    "/tmp",
                    "/root");

    private static final Set<String> PSEUDO = Set.of("/proc", "/sys", "/dev", "/boot");

    private OutputFolder() {}

    /**
     * @param dir the output folder
     * @param flag how the user gave it, for messages
     * @throws UserError naming the flag and the folder
     */
    static void check(Path dir, String flag) {
        Path abs = dir.toAbsolutePath().normalize();
        if (abs.getParent() == null) {
            throw new UserError(
                    flag
                            + " "
                            + dir
                            + ": the root folder; give a folder of its own, e.g. runs/my-run");
        }
        String text = abs.toString();
        if (SYSTEM.contains(text) || PSEUDO.stream().anyMatch(p -> abs.startsWith(Path.of(p)))) {
            throw new UserError(
                    flag
                            + " "
                            + dir
                            + ": a system folder; give a folder of its own, e.g. runs/my-run");
        }
        Path cwd = Path.of("").toAbsolutePath().normalize();
        if (cwd.startsWith(abs)) {
            throw new UserError(
                    flag
                            + " "
                            + dir
                            + ": is (or holds) the current folder; give a sub-folder, e.g. runs/my-run");
        }
        if (Files.exists(abs) && !Files.isDirectory(abs)) {
            throw new UserError(flag + " " + dir + ": an existing file, not a folder");
        }
        try {
            // nothing is created here (an argument error later must not leave folders behind):
            // the folder, or its nearest existing ancestor, and the folder's parent must take files
            Path existing = abs;
            while (!Files.exists(existing)) {
                existing = existing.getParent();
            }
            if (!Files.isDirectory(existing)) {
                throw new UserError(
                        flag + " " + dir + ": " + existing + " is a file, not a folder");
            }
            probe(existing);
            if (Files.isDirectory(abs.getParent())) {
                probe(abs.getParent());
            }
        } catch (IOException | SecurityException | UnsupportedOperationException e) {
            throw new UserError(flag + " " + dir + ": not writable (" + e + ")");
        }
    }

    private static void probe(Path folder) throws IOException {
        Path p = Files.createTempFile(folder, ".peft4j-write-check", ".tmp");
        Files.delete(p);
    }
}
