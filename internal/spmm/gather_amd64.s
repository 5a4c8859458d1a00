//go:build amd64 && !purego

#include "textflag.h"

// func gatherRowsAVX2(out, x *float32, d int, cols *int, vals *float32, n int, add bool)
// For the first d8 = d &^ 7 columns:
//	out[j] (+)= Σ_{q<n} vals[q] · x[cols[q]·d + j]
// accumulated in four (then one) 8-wide registers per column chunk, so
// each gathered row is read once per chunk and out is written once.
TEXT ·gatherRowsAVX2(SB), NOSPLIT, $0-49
	MOVQ    out+0(FP), DI
	MOVQ    x+8(FP), SI
	MOVQ    d+16(FP), R11
	MOVQ    cols+24(FP), R8
	MOVQ    vals+32(FP), R9
	MOVQ    n+40(FP), R10
	MOVBQZX add+48(FP), R13
	MOVQ    R11, R12
	ANDQ    $-8, R12
	SHLQ    $2, R12      // d8 in bytes
	SHLQ    $2, R11      // row stride in bytes
	XORQ    BX, BX       // column offset in bytes

chunk32:
	MOVQ R12, AX
	SUBQ BX, AX
	CMPQ AX, $128
	JLT  chunk8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ   CX, CX

inner32:
	CMPQ         CX, R10
	JGE          store32
	MOVQ         (R8)(CX*8), AX
	IMULQ        R11, AX
	ADDQ         BX, AX
	VBROADCASTSS (R9)(CX*4), Y4
	VFMADD231PS  (SI)(AX*1), Y4, Y0
	VFMADD231PS  32(SI)(AX*1), Y4, Y1
	VFMADD231PS  64(SI)(AX*1), Y4, Y2
	VFMADD231PS  96(SI)(AX*1), Y4, Y3
	INCQ         CX
	JMP          inner32

store32:
	TESTQ  R13, R13
	JZ     put32
	VADDPS (DI)(BX*1), Y0, Y0
	VADDPS 32(DI)(BX*1), Y1, Y1
	VADDPS 64(DI)(BX*1), Y2, Y2
	VADDPS 96(DI)(BX*1), Y3, Y3

put32:
	VMOVUPS Y0, (DI)(BX*1)
	VMOVUPS Y1, 32(DI)(BX*1)
	VMOVUPS Y2, 64(DI)(BX*1)
	VMOVUPS Y3, 96(DI)(BX*1)
	ADDQ    $128, BX
	JMP     chunk32

chunk8:
	CMPQ   BX, R12
	JGE    done
	VXORPS Y0, Y0, Y0
	XORQ   CX, CX

inner8:
	CMPQ         CX, R10
	JGE          store8
	MOVQ         (R8)(CX*8), AX
	IMULQ        R11, AX
	ADDQ         BX, AX
	VBROADCASTSS (R9)(CX*4), Y4
	VFMADD231PS  (SI)(AX*1), Y4, Y0
	INCQ         CX
	JMP          inner8

store8:
	TESTQ  R13, R13
	JZ     put8
	VADDPS (DI)(BX*1), Y0, Y0

put8:
	VMOVUPS Y0, (DI)(BX*1)
	ADDQ    $32, BX
	JMP     chunk8

done:
	VZEROUPPER
	RET

// func widenSubAVX2(dst *float64, a *float32, x *float64, n int)
// dst[j] = float64(a[j]) - x[j] for j < n (n a multiple of 4).
TEXT ·widenSubAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ x+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $2, CX
	JZ   done2

loop2:
	VCVTPS2PD (SI), Y0
	VSUBPD    (DX), Y0, Y0
	VMOVUPD   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DX
	ADDQ      $32, DI
	DECQ      CX
	JNZ       loop2
	VZEROUPPER

done2:
	RET

// func subAVX2(dst, x *float32, n int)
// dst[j] -= x[j] for j < n (n a multiple of 8).
TEXT ·subAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   done3

loop3:
	VMOVUPS (DI), Y0
	VSUBPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     loop3
	VZEROUPPER

done3:
	RET
