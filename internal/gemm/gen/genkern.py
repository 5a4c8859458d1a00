# Writes the micro-kernels of kernel_amd64.s (run from internal/gemm: go generate).
# The hand-written 8×8 transpose at the end of the file is kept as it is.
import sys
s=open('kernel_amd64.s').read()
tr=s[s.index('// func transpose8AVX'):]
out=[]
w=out.append
w("//go:build amd64 && !purego\n\n")
w('#include "textflag.h"\n\n')
w("// Micro-kernels: see the kernel type in sgemm.go. Each k step loads one\n// packed B row (2 vectors), broadcasts mr values of A and issues 2·mr FMAs\n// into 2·mr accumulators. Only the first rows rows of the tile are stored.\n\n")
def gen(name, mr, reg, vbytes, esize, suf, bcast, accbase, bregs, bcregs, xor, label):
    R=lambda i: f"{reg}{i}"
    T = "float32" if esize==4 else "float64"
    w(f"// func {name}(k int, a, b *{T}, bstride int, c *{T}, ldc int, alpha, beta {T}, load, rows int)\n")
    argsize = 72 if esize==4 else 80
    w(f"TEXT ·{name}(SB), NOSPLIT, $0-{argsize}\n")
    sh = 2 if esize==4 else 3
    w(f"\tMOVQ k+0(FP), CX\n\tMOVQ a+8(FP), SI\n\tMOVQ b+16(FP), DI\n\tMOVQ bstride+24(FP), R8\n\tSHLQ ${sh}, R8\n\tMOVQ c+32(FP), DX\n\tMOVQ ldc+40(FP), R9\n\tSHLQ ${sh}, R9\n")
    acc=[accbase+i for i in range(2*mr)]
    for r in acc: w(f"\t{xor} {R(r)}, {R(r)}, {R(r)}\n")
    w(f"\tTESTQ CX, CX\n\tJZ {label}_done\n")
    def step(off):
        t=f"\tVMOVUP{suf[1]} (DI), {R(bregs[0])}\n\tVMOVUP{suf[1]} {vbytes}(DI), {R(bregs[1])}\n"
        for i in range(mr):
            br=bcregs[i%len(bcregs)]
            t+=f"\t{bcast} {off+esize*i}(SI), {R(br)}\n"
            t+=f"\tVFMADD231{suf} {R(bregs[0])}, {R(br)}, {R(acc[2*i])}\n\tVFMADD231{suf} {R(bregs[1])}, {R(br)}, {R(acc[2*i+1])}\n"
        return t+"\tADDQ R8, DI\n"
    w(f"\tMOVQ CX, BX\n\tSHRQ $2, BX\n\tJZ {label}_tail\n{label}_loop4:\n")
    for u in range(4): w(step(mr*esize*u))
    w(f"\tADDQ ${4*mr*esize}, SI\n\tDECQ BX\n\tJNZ {label}_loop4\n{label}_tail:\n\tANDQ $3, CX\n\tJZ {label}_done\n{label}_loop1:\n")
    w(step(0))
    w(f"\tADDQ ${mr*esize}, SI\n\tDECQ CX\n\tJNZ {label}_loop1\n")
    aoff, boff, loff, roff = (48,52,56,64) if esize==4 else (48,56,64,72)
    w(f"{label}_done:\n\t{bcast} alpha+{aoff}(FP), {R(bregs[0])}\n")
    for r in acc: w(f"\tVMUL{suf} {R(bregs[0])}, {R(r)}, {R(r)}\n")
    w(f"\tMOVQ rows+{roff}(FP), R10\n")
    w(f"\tMOVQ load+{loff}(FP), AX\n\tTESTQ AX, AX\n\tJZ {label}_store\n\t{bcast} beta+{boff}(FP), {R(bregs[1])}\n")
    for i in range(mr):
        w(f"\tVFMADD231{suf} (DX), {R(bregs[1])}, {R(acc[2*i])}\n\tVFMADD231{suf} {vbytes}(DX), {R(bregs[1])}, {R(acc[2*i+1])}\n")
        w(f"\tVMOVUP{suf[1]} {R(acc[2*i])}, (DX)\n\tVMOVUP{suf[1]} {R(acc[2*i+1])}, {vbytes}(DX)\n")
        if i<mr-1: w(f"\tDECQ R10\n\tJZ {label}_ret\n\tADDQ R9, DX\n")
    w(f"\tJMP {label}_ret\n{label}_store:\n")
    for i in range(mr):
        w(f"\tVMOVUP{suf[1]} {R(acc[2*i])}, (DX)\n\tVMOVUP{suf[1]} {R(acc[2*i+1])}, {vbytes}(DX)\n")
        if i<mr-1: w(f"\tDECQ R10\n\tJZ {label}_ret\n\tADDQ R9, DX\n")
    w(f"{label}_ret:\n\tVZEROUPPER\n\tRET\n\n")
gen("kern6x16AVX2", 6, "Y", 32, 4, "PS", "VBROADCASTSS", 4, [0,1], [2,3], "VXORPS", "s2")
gen("kern8x32AVX512", 8, "Z", 64, 4, "PS", "VBROADCASTSS", 0, [16,17], [18,19,20,21], "VPXORD", "s5")
gen("kern6x8AVX2", 6, "Y", 32, 8, "PD", "VBROADCASTSD", 4, [0,1], [2,3], "VXORPD", "d2")
gen("kern8x16AVX512", 8, "Z", 64, 8, "PD", "VBROADCASTSD", 0, [16,17], [18,19,20,21], "VPXORQ", "d5")
w(tr)
open('kernel_amd64.s','w').write("".join(out))
