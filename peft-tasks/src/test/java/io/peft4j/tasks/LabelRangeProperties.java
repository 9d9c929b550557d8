package io.peft4j.tasks;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.StringReader;
import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

/**
 * Labels far outside the others are refused by the file and line they were read from (before any
 * shuffling), while any data whose labels are 0..n-1 with gaps in reason reads.
 */
class LabelRangeProperties {

    @Property(tries = 300)
    void labelsOfAFewClassesRead(
            @ForAll @Size(min = 1, max = 60) List<@IntRange(min = 0, max = 9) Integer> labels)
            throws Exception {
        StringBuilder tsv = new StringBuilder("sentence\tlabel\n");
        for (int label : labels) {
            tsv.append("some text\t").append(label).append('\n');
        }
        List<LabeledText> read =
                DataReaders.readLabeledTsv(new StringReader(tsv.toString()), "data.tsv");
        assertTrue(read.size() == labels.size());
        for (int i = 0; i < read.size(); i++) {
            assertTrue(read.get(i).where().equals("data.tsv:" + (i + 2)), read.get(i).where());
        }
    }

    @Property(tries = 300)
    void aStrayLabelIsNamedByItsLine(
            @ForAll @Size(min = 1, max = 60) List<@IntRange(min = 0, max = 4) Integer> labels,
            @ForAll @IntRange(min = 0, max = 60) int at,
            @ForAll @IntRange(min = 100, max = Integer.MAX_VALUE) int stray) {
        StringBuilder tsv = new StringBuilder("sentence\tlabel\n");
        int position = Math.min(at, labels.size());
        for (int i = 0; i <= labels.size(); i++) {
            if (i == position) {
                tsv.append("stray\t").append(stray).append('\n');
            }
            if (i < labels.size()) {
                tsv.append("some text\t").append(labels.get(i)).append('\n');
            }
        }
        DataFormatException e =
                assertThrows(
                        DataFormatException.class,
                        () ->
                                DataReaders.readLabeledTsv(
                                        new StringReader(tsv.toString()), "data.tsv"));
        assertTrue(
                e.getMessage()
                        .startsWith(
                                "data.tsv:"
                                        + (position + 2)
                                        + ": label "
                                        + stray
                                        + " is far outside"),
                e.getMessage());
    }
}
