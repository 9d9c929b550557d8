package io.peft4j.tasks;

import java.io.IOException;
import java.io.Reader;

/**
 * The lines of a text, each at most a set number of characters, so that a file with one enormous
 * line (a binary file, a corrupt export) fails with a clear error instead of exhausting the heap
 * inside {@link java.io.BufferedReader#readLine()}. Lines end at {@code \n}, {@code \r\n} or {@code
 * \r}, as with {@code readLine}.
 */
final class BoundedLines {

    /** 16 Mi characters: far beyond any real example, far below a heap-sized string. */
    static final int MAX_LINE_CHARS = 16 << 20;

    private final Reader in;
    private final String source;
    private final int maxChars;
    private final char[] buffer = new char[8192];
    private int pos;
    private int end;
    private int lineNo;
    private boolean skipLf; // the last line ended with \r: a \n right after belongs to it

    BoundedLines(Reader in, String source) {
        this(in, source, MAX_LINE_CHARS);
    }

    BoundedLines(Reader in, String source, int maxChars) {
        this.in = in;
        this.source = source;
        this.maxChars = maxChars;
    }

    /** The 1-based number of the line {@link #next()} returned last. */
    int lineNumber() {
        return lineNo;
    }

    /**
     * @return the next line without its terminator, or null at the end of the text
     * @throws DataFormatException if the line is longer than the limit (naming source and line)
     */
    String next() throws IOException {
        StringBuilder line = new StringBuilder();
        boolean any = false;
        while (true) {
            if (pos == end) {
                end = in.read(buffer, 0, buffer.length);
                pos = 0;
                if (end <= 0) {
                    end = 0;
                    if (!any) {
                        return null;
                    }
                    lineNo++;
                    return line.toString();
                }
            }
            char c = buffer[pos++];
            if (skipLf) {
                skipLf = false;
                if (c == '\n') {
                    continue;
                }
            }
            any = true;
            if (c == '\n' || c == '\r') {
                skipLf = c == '\r';
                lineNo++;
                return line.toString();
            }
            if (line.length() >= maxChars) {
                throw new DataFormatException(
                        source
                                + ":"
                                + (lineNo + 1)
                                + ": a line longer than "
                                + maxChars
                                + " characters; is this a text file of the expected format?");
            }
            line.append(c);
        }
    }
}
