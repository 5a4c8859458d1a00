//go:build amd64 && !purego

#include "textflag.h"

// The constants of tanh32 (tanh.go): the clamp, then P's and Q's
// coefficients from the constant term up.
DATA tanhc<>+0(SB)/8, $-9.0
DATA tanhc<>+8(SB)/8, $9.0
DATA tanhc<>+16(SB)/8, $0.9999999864000815
DATA tanhc<>+24(SB)/8, $0.13392882794616293
DATA tanhc<>+32(SB)/8, $0.003509655357766424
DATA tanhc<>+40(SB)/8, $2.084000857344951e-05
DATA tanhc<>+48(SB)/8, $1.367364482751654e-08
DATA tanhc<>+56(SB)/8, $1.0
DATA tanhc<>+64(SB)/8, $0.46726202296437136
DATA tanhc<>+72(SB)/8, $0.025930537548583606
DATA tanhc<>+80(SB)/8, $0.0003308615618812027
DATA tanhc<>+88(SB)/8, $7.907321817150759e-07
GLOBL tanhc<>(SB), RODATA|NOPTR, $96

// func tanhAVX2(dst, src *float32, n int)
// dst[j] = tanh32(src[j]) for j < n (n a multiple of 4), four values at a
// time in float64, as tanh32 computes them.
TEXT ·tanhAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $2, CX
	JZ   done
	VBROADCASTSD tanhc<>+0(SB), Y4
	VBROADCASTSD tanhc<>+8(SB), Y5
	VBROADCASTSD tanhc<>+16(SB), Y6
	VBROADCASTSD tanhc<>+24(SB), Y7
	VBROADCASTSD tanhc<>+32(SB), Y8
	VBROADCASTSD tanhc<>+40(SB), Y9
	VBROADCASTSD tanhc<>+48(SB), Y10
	VBROADCASTSD tanhc<>+56(SB), Y11
	VBROADCASTSD tanhc<>+64(SB), Y12
	VBROADCASTSD tanhc<>+72(SB), Y13
	VBROADCASTSD tanhc<>+80(SB), Y14
	VBROADCASTSD tanhc<>+88(SB), Y15

loop:
	VCVTPS2PD (SI), Y0
	VMAXPD    Y0, Y4, Y0 // max(-9, x), x where x is NaN
	VMINPD    Y0, Y5, Y0 // min(9, x), x where x is NaN
	VMULPD    Y0, Y0, Y1 // z = x²
	VMOVAPD   Y10, Y2    // P(z) by Horner
	VFMADD213PD Y9, Y1, Y2
	VFMADD213PD Y8, Y1, Y2
	VFMADD213PD Y7, Y1, Y2
	VFMADD213PD Y6, Y1, Y2
	VMOVAPD   Y15, Y3    // Q(z)
	VFMADD213PD Y14, Y1, Y3
	VFMADD213PD Y13, Y1, Y3
	VFMADD213PD Y12, Y1, Y3
	VFMADD213PD Y11, Y1, Y3
	VMULPD    Y0, Y2, Y2
	VDIVPD    Y3, Y2, Y2
	VCVTPD2PSY Y2, X2
	VMOVUPS   X2, (DI)
	ADDQ      $16, SI
	ADDQ      $16, DI
	DECQ      CX
	JNZ       loop
	VZEROUPPER

done:
	RET
