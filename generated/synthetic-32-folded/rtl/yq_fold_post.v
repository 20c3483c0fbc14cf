// yq_fold_post: the folded engine's post-processing sequencer. A small accumulator machine
// runs the integer DFL/decode/NMS stage as a program (src/rtl/folded/nms.rs writes it,
// src/rtl/folded/post.rs defines the instruction set and executes it as the cycle model), so
// the stage costs a few hundred logic cells: registers, program and tables are block RAM.
//
// State: 32-bit accumulator A with flags C (carry / no borrow), Z, N; 256 x 32-bit registers
// (two 256 x 16 RAMs); memory pointer M (byte address) with post-increment by a register;
// loop counter K (KW bits); one return address. Instruction word: op[15:11], arg[10:0] (register
// arg[7:0], variant bit arg[8], jump target or shift kind).
// Timing: S_F fetches the first instruction after `go`; then every instruction takes S_X
// (register, table and memory reads issued) and S_E (execute, write, next instruction
// fetched): 2 + 2 * instructions cycles from `go` to `done`, raised after Halt.
//
// Memory port: byte reads (rd_data) and word reads (rd_word, even addresses), 1-cycle latency,
// issued in every S_X; byte writes, or word writes with wr_wide at even addresses (the core
// ignores bit 0). WAIT = 1 (a memory of variable latency: DRAM): a load or store holds S_E,
// with m_req high and the program counter kept, until the memory answers with m_ok (a load's
// data on rd_data / rd_word in that cycle); the instruction then executes as usual.
module yq_fold_post #(
    parameter AW = 17, parameter KW = 16,
    parameter PAW = 9, parameter PDEPTH = 512,
    parameter TAW = 10, parameter TDEPTH = 1024,
    parameter PROG_FILE = "prog.hex", parameter RHI_FILE = "rhi.hex", parameter RLO_FILE = "rlo.hex",
    parameter TAB_FILE = "tab.hex",
    parameter WAIT = 0
) (
    input wire clk,
    input wire rst,
    input wire go,
    output reg done,
    output wire rd_en,
    output wire [AW-1:0] rd_addr,
    input wire [7:0] rd_data,
    input wire [15:0] rd_word,
    output wire wr_en,
    output wire wr_wide,
    output wire [AW-1:0] wr_addr,
    output wire [15:0] wr_data,
    output wire m_req,
    input wire m_ok
);
    localparam [4:0] HALT = 5'd0, LD = 5'd1, ST = 5'd2, ADD = 5'd3, SUB = 5'd4, CMP = 5'd5,
                     ADC = 5'd6, SBC = 5'd7, SH = 5'd8, SETM = 5'd9, ADDM = 5'd10, LDB = 5'd11,
                     LDW = 5'd12, STB = 5'd13, STW = 5'd14, TAB = 5'd15, SETK = 5'd16,
                     GETK = 5'd17, LOOP = 5'd18, JMP = 5'd19, JZ = 5'd20, JNZ = 5'd21, JC = 5'd22,
                     JNC = 5'd23, JLE = 5'd24, JGT = 5'd25, CALL = 5'd26, RET = 5'd27;
    localparam [1:0] S_IDLE = 2'd0, S_F = 2'd1, S_X = 2'd2, S_E = 2'd3;

    reg [1:0] st;
    reg [PAW-1:0] pc, link;
    reg [31:0] a;
    reg c, z, n;
    reg [AW-1:0] m;
    reg [KW-1:0] k;

    // ---- program, registers, table (registered reads) ------------------------------------
    wire [15:0] ins;
    wire [4:0] op = ins[15:11];
    wire [10:0] arg = ins[10:0];
    wire hi = ins[8];
    wire [PAW-1:0] next_pc;
    wire hold;
    wire [PAW-1:0] p_addr = (st == S_E && !hold) ? next_pc : pc;
    yq_rom #(.AW(PAW), .DW(16), .DEPTH(PDEPTH), .INIT_FILE(PROG_FILE))
        u_prog (.clk(clk), .addr(p_addr), .data(ins));

    wire rf_we = (st == S_E) && (op == ST);
    (* ram_style = "block", no_rw_check *) reg [15:0] rf_hi [0:255];
    (* ram_style = "block", no_rw_check *) reg [15:0] rf_lo [0:255];
    reg [15:0] b_hi, b_lo;
    initial $readmemh(RHI_FILE, rf_hi);
    initial $readmemh(RLO_FILE, rf_lo);
    always @(posedge clk) begin
        if (rf_we) begin
            rf_hi[ins[7:0]] <= a[31:16];
            rf_lo[ins[7:0]] <= a[15:0];
        end
        b_hi <= rf_hi[ins[7:0]];
        b_lo <= rf_lo[ins[7:0]];
    end
    wire [31:0] b = {b_hi, b_lo};

    wire [15:0] t;
    yq_rom #(.AW(TAW), .DW(16), .DEPTH(TDEPTH), .INIT_FILE(TAB_FILE))
        u_tab (.clk(clk), .addr(a[TAW-1:0]), .data(t));

    // ---- ALU: one adder for add, subtract, compare and the left shifts (A + A) ----------------
    // The instruction is decoded in S_X into registers, so S_E starts the adder from them.
    wire is_sub = (op == SUB) || (op == CMP) || (op == SBC);
    wire is_sh = (op == SH);
    wire sh_left = is_sh && !arg[1];
    reg x_sub, x_shl, x_shr, x_rc, x_cin1, x_cinc;
    always @(posedge clk) if (st == S_X) begin
        x_sub <= is_sub; x_shl <= sh_left; x_shr <= is_sh && arg[1]; x_rc <= arg[0];
        // carry in: 1 for subtract and compare, C for SBC, ADC and the rotate left
        x_cin1 <= is_sub && (op != SBC);
        x_cinc <= (op == SBC) || (op == ADC) || (sh_left && arg[0]);
    end
    wire cin = x_cin1 || (x_cinc && c);
    wire [31:0] y = x_sub ? ~b : x_shl ? a : b;
    wire [32:0] s = {1'b0, a} + {1'b0, y} + {32'd0, cin};
    // right shifts: logical, or through the carry
    wire [31:0] alu = x_shr ? {x_rc & c, a[31:1]} : s[31:0];
    wire alu_c = x_shr ? a[0] : s[32];
    wire [AW-1:0] m_sum = ((op == SETM) ? a[AW-1:0] : m) + b[AW-1:0];
    wire [KW-1:0] k1 = k - 1'b1;

    // ---- next instruction ------------------------------------------------------------------
    reg take;
    always @(*) begin
        case (op)
            JMP, CALL: take = 1'b1;
            JZ: take = z;
            JNZ: take = !z;
            JC: take = c;
            JNC: take = !c;
            JLE: take = z || n;
            JGT: take = !z && !n;
            LOOP: take = (k1 != {KW{1'b0}});
            default: take = 1'b0;
        endcase
    end
    assign next_pc = (op == RET) ? link : take ? arg[PAW-1:0] : pc + 1'b1;

    // ---- memory port -------------------------------------------------------------------------
    // Addresses and data ungated: the core selects this unit's port by rd_en / wr_en. Every
    // port signal comes from a flip-flop, never from the program memory's output (a block
    // RAM's clock-to-output is the slowest start of a path on ECP5): a read is issued in every
    // S_X (only loads use its data; the stage runs alone, so the port is free), and the store
    // decode is registered in S_X for the write in S_E.
    reg x_st, x_ld, x_wide, x_hi;
    always @(posedge clk) if (st == S_X) begin
        x_st <= (op == STB) || (op == STW); x_ld <= (op == LDB) || (op == LDW);
        x_wide <= (op == STW); x_hi <= hi;
    end
    assign hold = (WAIT != 0) && (x_st || x_ld) && !m_ok;
    assign m_req = (st == S_E) && hold;
    assign rd_en = (st == S_X);
    assign rd_addr = m;
    assign wr_en = (st == S_E) && x_st;
    assign wr_wide = x_wide;
    assign wr_addr = m;
    assign wr_data = {a[15:8], x_hi ? a[15:8] : a[7:0]};

    always @(posedge clk) begin
        done <= 1'b0;
        if (rst) begin
            st <= S_IDLE;
            pc <= {PAW{1'b0}};
        end else begin
            case (st)
                S_IDLE: if (go) begin
                    pc <= {PAW{1'b0}}; st <= S_F;
                end
                S_F: st <= S_X;
                S_X: st <= S_E;
                default: if (!hold) begin
                    st <= S_X;
                    pc <= next_pc;
                    case (op)
                        HALT: begin done <= 1'b1; st <= S_IDLE; end
                        LD: a <= b;
                        ADD, SUB, ADC, SBC, CMP, SH: begin
                            if (op != CMP) a <= alu;
                            c <= alu_c; z <= (alu == 32'd0); n <= alu[31];
                        end
                        SETM, ADDM: m <= m_sum;
                        LDB: begin a <= {24'd0, rd_data}; m <= m_sum; end
                        LDW: begin a <= {{16{hi & rd_word[15]}}, rd_word}; m <= m_sum; end
                        STB, STW: m <= m_sum;
                        TAB: a <= {16'd0, t};
                        SETK: k <= b[KW-1:0];
                        GETK: a <= {{(32-KW){1'b0}}, k};
                        LOOP: k <= k1;
                        CALL: link <= pc + 1'b1;
                        default: ;
                    endcase
                end
            endcase
        end
    end
    wire unused = ^{arg[10:9], b[31:AW]};
endmodule
