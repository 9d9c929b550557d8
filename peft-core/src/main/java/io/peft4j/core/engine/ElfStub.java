package io.peft4j.core.engine;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes a minimal x86-64 ELF shared object that exports functions returning a constant int ({@code
 * mov eax, imm32; ret}), for the dynamic linker to bind in place of a library's own definitions.
 * Generated here rather than shipped or compiled, so that a fresh machine with only a JDK gets it,
 * and no binary sits in the repository.
 *
 * <p>Layout: ELF header, four program headers (a read/execute PT_LOAD over the header, hash,
 * symbols, strings and code; a read/write PT_LOAD and PT_DYNAMIC over the dynamic section, which
 * the loader relocates in place; PT_GNU_STACK so that loading it does not ask for an executable
 * stack). No section headers: the loader does not read them. Symbols are found through a one-bucket
 * SysV {@code DT_HASH} table.
 */
final class ElfStub {

    private static final int PAGE = 0x1000;
    private static final int EHDR = 64;
    private static final int PHDR = 56;
    private static final int PHNUM = 4;
    private static final int SYM = 24;
    private static final int STUB = 8; // 6 bytes of code, padded

    private ElfStub() {}

    /**
     * @param soname the DT_SONAME
     * @param functions exported name to the int it returns, in order
     * @return the file's bytes
     */
    static byte[] sharedObject(String soname, Map<String, Integer> functions) {
        Map<String, Integer> fns = new LinkedHashMap<>(functions);
        int n = fns.size();
        if (n == 0) {
            throw new IllegalArgumentException("an ELF stub needs at least one function");
        }
        // dynstr: "\0" name1 "\0" ... soname "\0"
        ByteBuffer strings =
                ByteBuffer.allocate(
                        1
                                + fns.keySet().stream().mapToInt(s -> utf8(s).length + 1).sum()
                                + utf8(soname).length
                                + 1);
        strings.put((byte) 0);
        int[] nameOffsets = new int[n];
        int i = 0;
        for (String name : fns.keySet()) {
            nameOffsets[i++] = strings.position();
            strings.put(utf8(name)).put((byte) 0);
        }
        int sonameOffset = strings.position();
        strings.put(utf8(soname)).put((byte) 0);

        int hashOff = EHDR + PHNUM * PHDR;
        int hashSize = 4 * (2 + 1 + (n + 1));
        int symOff = align(hashOff + hashSize, 8);
        int strOff = symOff + (n + 1) * SYM;
        int textOff = align(strOff + strings.capacity(), 16);
        int textEnd = textOff + n * STUB;
        if (textEnd > PAGE) {
            throw new IllegalArgumentException("too many functions for a one-page ELF stub: " + n);
        }
        int dynOff = PAGE;
        long[][] dynamic = {
            {4, hashOff}, // DT_HASH
            {5, strOff}, // DT_STRTAB
            {6, symOff}, // DT_SYMTAB
            {10, strings.capacity()}, // DT_STRSZ
            {11, SYM}, // DT_SYMENT
            {14, sonameOffset}, // DT_SONAME
            {0, 0}, // DT_NULL
        };
        int dynSize = dynamic.length * 16;
        ByteBuffer b = ByteBuffer.allocate(dynOff + dynSize).order(ByteOrder.LITTLE_ENDIAN);

        // ELF header
        b.put(
                new byte[] {
                    0x7f,
                    'E',
                    'L',
                    'F',
                    2 /* 64-bit */,
                    1 /* little endian */,
                    1 /* version */,
                    0 /* SysV */
                });
        b.put(new byte[8]);
        b.putShort((short) 3); // ET_DYN
        b.putShort((short) 62); // EM_X86_64
        b.putInt(1);
        b.putLong(0); // e_entry
        b.putLong(EHDR); // e_phoff
        b.putLong(0); // e_shoff
        b.putInt(0); // e_flags
        b.putShort((short) EHDR);
        b.putShort((short) PHDR);
        b.putShort((short) PHNUM);
        b.putShort((short) 64); // e_shentsize
        b.putShort((short) 0); // e_shnum
        b.putShort((short) 0); // e_shstrndx

        // program headers: type, flags (X=1 W=2 R=4), offset, vaddr, paddr, filesz, memsz, align
        programHeader(b, 1, 4 | 1, 0, textEnd, PAGE);
        programHeader(b, 1, 4 | 2, dynOff, dynSize, PAGE);
        programHeader(b, 2, 4 | 2, dynOff, dynSize, 8);
        programHeader(b, 0x6474e551, 4 | 2, 0, 0, 16); // PT_GNU_STACK: not executable

        // DT_HASH with one bucket: bucket -> symbol n -> n-1 -> ... -> 1 -> 0 (end)
        b.position(hashOff);
        b.putInt(1).putInt(n + 1).putInt(n);
        for (int s = 0; s <= n; s++) {
            b.putInt(Math.max(0, s - 1));
        }

        // symbols: entry 0 is the null symbol
        b.position(symOff + SYM);
        for (int s = 1; s <= n; s++) {
            b.putInt(nameOffsets[s - 1]);
            b.put((byte) 0x12); // STB_GLOBAL, STT_FUNC
            b.put((byte) 0); // STV_DEFAULT
            b.putShort((short) 1); // any defined section index: the loader only tests != SHN_UNDEF
            b.putLong(textOff + (long) (s - 1) * STUB);
            b.putLong(6);
        }
        b.position(strOff);
        b.put(strings.array());

        b.position(textOff);
        for (int value : fns.values()) {
            b.put((byte) 0xb8).putInt(value).put((byte) 0xc3); // mov eax, imm32; ret
            b.putShort((short) 0);
        }

        b.position(dynOff);
        for (long[] entry : dynamic) {
            b.putLong(entry[0]).putLong(entry[1]);
        }
        return b.array();
    }

    private static void programHeader(
            ByteBuffer b, int type, int flags, long offset, long size, long align) {
        b.putInt(type)
                .putInt(flags)
                .putLong(offset)
                .putLong(offset)
                .putLong(offset)
                .putLong(size)
                .putLong(size)
                .putLong(align);
    }

    private static int align(int value, int to) {
        return (value + to - 1) / to * to;
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
