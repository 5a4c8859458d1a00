//go:build amd64 && !purego

#include "textflag.h"

// func narrowAVX2(dst *float32, src *float64, n int)
// dst[i] = float32(src[i]) for i < n, n a positive multiple of 8.
TEXT ·narrowAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
narrowloop:
	VCVTPD2PSY (SI), X0
	VCVTPD2PSY 32(SI), X1
	VMOVUPS    X0, (DI)
	VMOVUPS    X1, 16(DI)
	ADDQ       $64, SI
	ADDQ       $32, DI
	SUBQ       $8, CX
	JNZ        narrowloop
	VZEROUPPER
	RET

// func widenAVX2(dst *float64, src *float32, n int)
// dst[i] = float64(src[i]) for i < n, n a positive multiple of 8.
TEXT ·widenAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
widenloop:
	VCVTPS2PD (SI), Y0
	VCVTPS2PD 16(SI), Y1
	VMOVUPD   Y0, (DI)
	VMOVUPD   Y1, 32(DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	SUBQ      $8, CX
	JNZ       widenloop
	VZEROUPPER
	RET

// func rows32AVX2(d *float64, a float64, x *float32, b float64, y *float32, n int, add bool)
// d[i] = a·x[i] + b·y[i] (d[i] += with add) for i < n, n a positive
// multiple of 8, x and y widened to float64.
TEXT ·rows32AVX2(SB), NOSPLIT, $0-49
	MOVQ         d+0(FP), DI
	VBROADCASTSD a+8(FP), Y14
	MOVQ         x+16(FP), SI
	VBROADCASTSD b+24(FP), Y15
	MOVQ         y+32(FP), DX
	MOVQ         n+40(FP), CX
	MOVBQZX      add+48(FP), AX
	TESTQ        AX, AX
	JNZ          addloop
setloop:
	VCVTPS2PD   (SI), Y0
	VCVTPS2PD   16(SI), Y1
	VCVTPS2PD   (DX), Y2
	VCVTPS2PD   16(DX), Y3
	VMULPD      Y14, Y0, Y0
	VMULPD      Y14, Y1, Y1
	VFMADD231PD Y15, Y2, Y0
	VFMADD231PD Y15, Y3, Y1
	VMOVUPD     Y0, (DI)
	VMOVUPD     Y1, 32(DI)
	ADDQ        $32, SI
	ADDQ        $32, DX
	ADDQ        $64, DI
	SUBQ        $8, CX
	JNZ         setloop
	VZEROUPPER
	RET
addloop:
	VCVTPS2PD   (SI), Y0
	VCVTPS2PD   16(SI), Y1
	VCVTPS2PD   (DX), Y2
	VCVTPS2PD   16(DX), Y3
	VMULPD      Y14, Y0, Y0
	VMULPD      Y14, Y1, Y1
	VFMADD231PD Y15, Y2, Y0
	VFMADD231PD Y15, Y3, Y1
	VADDPD      (DI), Y0, Y0
	VADDPD      32(DI), Y1, Y1
	VMOVUPD     Y0, (DI)
	VMOVUPD     Y1, 32(DI)
	ADDQ        $32, SI
	ADDQ        $32, DX
	ADDQ        $64, DI
	SUBQ        $8, CX
	JNZ         addloop
	VZEROUPPER
	RET

// func maxAbsAVX2(x *float64, n int) (s, m float64)
// s = Σ x[i]·0 (NaN when some x[i] is not finite) and m = max |x[i]| for
// i < n, n a positive multiple of 8.
TEXT ·maxAbsAVX2(SB), NOSPLIT, $0-32
	MOVQ      x+0(FP), SI
	MOVQ      n+8(FP), CX
	VPCMPEQQ  Y15, Y15, Y15
	VPSRLQ    $1, Y15, Y15     // 0x7fff…: clears the sign bit
	VXORPD    Y14, Y14, Y14    // zero
	VXORPD    Y0, Y0, Y0       // Σ x·0, two accumulators
	VXORPD    Y1, Y1, Y1
	VXORPD    Y2, Y2, Y2       // max |x|, two accumulators
	VXORPD    Y3, Y3, Y3
maxloop:
	VMOVUPD     (SI), Y4
	VMOVUPD     32(SI), Y5
	VFMADD231PD Y14, Y4, Y0
	VFMADD231PD Y14, Y5, Y1
	VANDPD      Y15, Y4, Y4
	VANDPD      Y15, Y5, Y5
	VMAXPD      Y4, Y2, Y2
	VMAXPD      Y5, Y3, Y3
	ADDQ        $64, SI
	SUBQ        $8, CX
	JNZ         maxloop
	VADDPD       Y1, Y0, Y0
	VMAXPD       Y3, Y2, Y2
	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0
	VEXTRACTF128 $1, Y2, X3
	VMAXPD       X3, X2, X2
	VPERMILPD    $1, X0, X1
	VADDSD       X1, X0, X0
	VPERMILPD    $1, X2, X3
	VMAXSD       X3, X2, X2
	MOVSD        X0, s+16(FP)
	MOVSD        X2, m+24(FP)
	VZEROUPPER
	RET
