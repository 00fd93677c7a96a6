type Props = { value: string; onChange: (code: string) => void };

// The code is sent with the order; nothing checks it while the shopper types.
export function PromoCodeInput({ value, onChange }: Props) {
  return (
    <label>
      Promo code
      <input
        value={value}
        maxLength={20}
        onChange={(e) => onChange(e.target.value.toUpperCase())}
      />
    </label>
  );
}
