package io.peft4j.models;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import com.google.common.base.Preconditions;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * A Hugging Face {@code tokenizer.json} tokenizer (DJL's Rust binding) with the settings models
 * need: special tokens on or off, truncation to a maximum length (special tokens kept), and padding
 * of a batch to its longest row on the left (for generation) or the right.
 */
public final class TextTokenizer implements AutoCloseable {

    /** Where padding goes in a batch. */
    public enum PaddingSide {
        /** Pad before the tokens (decoder prompts in a batch). */
        LEFT,
        /** Pad after the tokens (the default). */
        RIGHT
    }

    /**
     * A padded batch.
     *
     * @param inputIds (B, T) token ids
     * @param attentionMask (B, T) 1 for real tokens, 0 for padding
     * @param tokenTypeIds (B, T) segment ids (0 for padding)
     */
    public record Batch(long[][] inputIds, long[][] attentionMask, long[][] tokenTypeIds) {

        /**
         * @param manager where the arrays go
         * @return {@code [input_ids, attention_mask, token_type_ids]} as int64 arrays, the input
         *     order of this module's models
         */
        public NDList toNDList(NDManager manager) {
            return new NDList(
                    manager.create(inputIds),
                    manager.create(attentionMask),
                    manager.create(tokenTypeIds));
        }
    }

    private final HuggingFaceTokenizer tokenizer;
    private final PaddingSide paddingSide;
    private final long padTokenId;
    private final int maxLength;

    private TextTokenizer(HuggingFaceTokenizer tokenizer, Builder b) {
        this.tokenizer = tokenizer;
        this.paddingSide = b.paddingSide;
        this.padTokenId = b.padTokenId;
        this.maxLength = b.maxLength;
    }

    /**
     * @param tokenizerJson a {@code tokenizer.json} file, or a folder holding one
     * @return a builder
     */
    public static Builder builder(Path tokenizerJson) {
        return new Builder(tokenizerJson);
    }

    /**
     * @return a tokenizer with default settings (special tokens, no truncation, right padding, pad
     *     id 0)
     * @param tokenizerJson the {@code tokenizer.json} file
     */
    public static TextTokenizer of(Path tokenizerJson) {
        return builder(tokenizerJson).build();
    }

    /**
     * @param text one text
     * @return its token ids (with special tokens when enabled, truncated when a max length is set)
     */
    public long[] encode(String text) {
        return tokenizer.encode(text).getIds();
    }

    /**
     * Encodes and pads a batch to its longest row.
     *
     * @param texts the texts
     * @return ids, attention mask and token types, all (B, longest)
     */
    public Batch encode(List<String> texts) {
        Preconditions.checkArgument(!texts.isEmpty(), "no texts to encode");
        Encoding[] encodings = tokenizer.batchEncode(texts);
        int width = Arrays.stream(encodings).mapToInt(e -> e.getIds().length).max().orElse(0);
        long[][] ids = new long[encodings.length][width];
        long[][] mask = new long[encodings.length][width];
        long[][] types = new long[encodings.length][width];
        for (int b = 0; b < encodings.length; b++) {
            long[] row = encodings[b].getIds();
            long[] typeRow = encodings[b].getTypeIds();
            int offset = paddingSide == PaddingSide.LEFT ? width - row.length : 0;
            Arrays.fill(ids[b], padTokenId);
            System.arraycopy(row, 0, ids[b], offset, row.length);
            System.arraycopy(typeRow, 0, types[b], offset, row.length);
            Arrays.fill(mask[b], offset, offset + row.length, 1L);
        }
        return new Batch(ids, mask, types);
    }

    /**
     * @param ids token ids
     * @param skipSpecialTokens whether to drop special tokens
     * @return the text
     */
    public String decode(long[] ids, boolean skipSpecialTokens) {
        return tokenizer.decode(ids, skipSpecialTokens);
    }

    /**
     * @return the maximum length (0 = none)
     */
    public int maxLength() {
        return maxLength;
    }

    /**
     * @return the id used for padding
     */
    public long padTokenId() {
        return padTokenId;
    }

    @Override
    public void close() {
        tokenizer.close();
    }

    /** Settings of a {@link TextTokenizer}. */
    public static final class Builder {
        private final Path path;
        private boolean addSpecialTokens = true;
        private int maxLength;
        private PaddingSide paddingSide = PaddingSide.RIGHT;
        private long padTokenId;

        private Builder(Path path) {
            this.path = path;
        }

        /**
         * @param v add the tokenizer's special tokens ([CLS]/[SEP], BOS); default true
         * @return this builder
         */
        public Builder addSpecialTokens(boolean v) {
            addSpecialTokens = v;
            return this;
        }

        /**
         * @param v truncate to this many tokens, special tokens included (0 = no truncation)
         * @return this builder
         */
        public Builder maxLength(int v) {
            maxLength = v;
            return this;
        }

        /**
         * @param v where a batch is padded; default right
         * @return this builder
         */
        public Builder paddingSide(PaddingSide v) {
            paddingSide = v;
            return this;
        }

        /**
         * @param v id written at padded positions (masked out anyway); default 0
         * @return this builder
         */
        public Builder padTokenId(long v) {
            padTokenId = v;
            return this;
        }

        /**
         * @return the tokenizer; close it
         * @throws IllegalArgumentException if there is no tokenizer.json
         */
        public TextTokenizer build() {
            Preconditions.checkArgument(
                    maxLength >= 0, "maxLength must be >= 0, got %s", maxLength);
            Path file = Files.isDirectory(path) ? path.resolve("tokenizer.json") : path;
            if (!Files.isRegularFile(file)) {
                throw new IllegalArgumentException("No tokenizer.json at " + file);
            }
            try {
                HuggingFaceTokenizer.Builder b =
                        HuggingFaceTokenizer.builder()
                                .optTokenizerPath(file)
                                .optAddSpecialTokens(addSpecialTokens)
                                .optPadding(false)
                                .optTruncation(maxLength > 0);
                if (maxLength > 0) {
                    b.optMaxLength(maxLength);
                }
                return new TextTokenizer(b.build(), this);
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot read tokenizer " + file, e);
            }
        }
    }
}
