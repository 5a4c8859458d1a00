//go:build amd64 && !purego

#include "textflag.h"

// func maskPositiveAVX2(dst, src, mask *float32, n int)
// dst[j] = src[j] where mask[j] > 0, else 0, for j < n (n a multiple of 8).
TEXT ·maskPositiveAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ mask+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	JZ   done
	VXORPS Y7, Y7, Y7

loop:
	VMOVUPS (DX), Y0
	VCMPPS  $0x1e, Y7, Y0, Y1 // mask > 0, ordered: false for NaN
	VANDPS  (SI), Y1, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $32, DX
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     loop
	VZEROUPPER

done:
	RET

// func addBiasReLUAVX2(s *float32, b float32, n int)
// s[j] = max(s[j] + b, 0) for j < n (n a multiple of 8), NaN kept.
TEXT ·addBiasReLUAVX2(SB), NOSPLIT, $0-24
	MOVQ         s+0(FP), DI
	VBROADCASTSS b+8(FP), Y6
	MOVQ         n+16(FP), CX
	SHRQ         $3, CX
	JZ           done2
	VXORPS       Y7, Y7, Y7

loop2:
	VADDPS  (DI), Y6, Y0
	VCMPPS  $0x16, Y7, Y0, Y1 // not (v <= 0), unordered: true for v > 0 and NaN
	VANDPS  Y0, Y1, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $32, DI
	DECQ    CX
	JNZ     loop2
	VZEROUPPER

done2:
	RET
